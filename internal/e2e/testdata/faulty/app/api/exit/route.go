package route

import (
	"net/http"
	"os"
)

// GET calls os.Exit: the guest ends, the host must not.
func GET(w http.ResponseWriter, r *http.Request) { os.Exit(3) }
