package route

import (
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
)

// GET lists the environment the guest sees.
func GET(w http.ResponseWriter, r *http.Request) {
	env := os.Environ()
	sort.Strings(env)
	io.WriteString(w, strings.Join(env, "\n"))
}
