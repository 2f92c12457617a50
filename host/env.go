package host

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/wasmroute/wasmroute/bundle"
	"github.com/wasmroute/wasmroute/host/outbound"
)

// guestEnv returns the environment guests see, as sorted KEY=value entries:
// the app's plain variables (with the operator's overrides) and its secrets,
// resolved now. Nothing else of the host's environment reaches a guest.
func guestEnv(app bundle.AppConfig, overrides map[string]string, lookup func(string) (string, bool)) ([]string, error) {
	var env, missing []string
	for k := range overrides {
		if slices.Contains(app.Secrets, k) {
			return nil, fmt.Errorf("env %s is one of the app's secrets: set it in the environment or the env file (.env), not with --env, so its value stays out of the command line", k)
		}
		if _, ok := app.Env[k]; !ok {
			return nil, fmt.Errorf("env %s is not declared in the app's wasmroute.toml [env]", k)
		}
	}
	for k, v := range app.Env {
		if o, ok := overrides[k]; ok {
			v = o
		}
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

// allowedHosts parses the app's allowed_outbound_hosts, replacing each
// "${NAME}" entry with the value NAME has in the guest environment env.
func allowedHosts(entries, env []string) (outbound.Allowlist, error) {
	expanded := make([]string, 0, len(entries))
	for _, e := range entries {
		if name, ok := strings.CutPrefix(e, "${"); ok && strings.HasSuffix(name, "}") {
			name = strings.TrimSuffix(name, "}")
			v, found := "", false
			for _, kv := range env {
				if k, val, _ := strings.Cut(kv, "="); k == name {
					v, found = val, true
				}
			}
			if !found {
				return nil, fmt.Errorf("allowed_outbound_hosts: %s names %s, which is neither in [env] nor a secret", e, name)
			}
			e = v
		}
		expanded = append(expanded, e)
	}
	return outbound.ParseAll(expanded)
}
