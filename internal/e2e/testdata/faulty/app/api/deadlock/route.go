package route

import (
	"net/http"
	"sync"
)

func GET(w http.ResponseWriter, r *http.Request) {
	var mu sync.Mutex
	mu.Lock()
	mu.Lock()
}
