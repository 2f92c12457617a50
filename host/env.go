package host

import (
	"fmt"
	"sort"
	"strings"

	"github.com/wasmroute/wasmroute/host/bundle"
)

// guestEnv returns the environment guests see, as sorted KEY=value entries:
// the app's plain variables and its secrets, resolved now. Nothing else of
// the host's environment reaches a guest.
func guestEnv(app bundle.AppConfig, lookup func(string) (string, bool)) ([]string, error) {
	var env, missing []string
	for k, v := range app.Env {
		env = append(env, k+"="+v)
	}
	for _, name := range app.Secrets {
		v, ok := lookup(name)
		if !ok {
			missing = append(missing, name)
			continue
		}
		env = append(env, name+"="+v)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("secrets %s are declared in wasmroute.toml but not set (put them in the environment or the env file)", strings.Join(missing, ", "))
	}
	sort.Strings(env)
	return env, nil
}
