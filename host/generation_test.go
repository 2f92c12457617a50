package host

import (
	"testing"
	"time"

	"github.com/wasmroute/wasmroute/bundle"
)

// limits are the limits route.limits and appLimits set.
type limits struct {
	bodyLimit    int64
	maxDuration  time.Duration
	routeCap     int // the route's own max_instances; 0: none
	memoryLimit  uint64
	maxInstances int // the app's instance cap
}

func TestRouteLimits(t *testing.T) {
	opts := Options{}
	opts.setDefaults()
	opts.MaxInstances = 8
	opts.MemoryLimitPages = 2048 // the engine's default
	tests := []struct {
		name  string
		route bundle.SegmentConfig
		app   bundle.AppConfig
		want  limits
	}{
		{"host defaults", bundle.SegmentConfig{}, bundle.AppConfig{},
			limits{bodyLimit: DefaultBodyLimit, maxDuration: 30 * time.Second, maxInstances: 8}},
		{"the app's", bundle.SegmentConfig{}, bundle.AppConfig{BodyLimit: 1000, MaxDuration: 5, MaxInstances: 2, MemoryLimit: 32 << 20},
			limits{bodyLimit: 1000, maxDuration: 5 * time.Second, maxInstances: 2, memoryLimit: 32 << 20}},
		{"the route's win", bundle.SegmentConfig{BodyLimit: 7, MaxDuration: 1, MaxInstances: 1},
			bundle.AppConfig{BodyLimit: 1000, MaxDuration: 5, MaxInstances: 2, MemoryLimit: 32 << 20},
			limits{bodyLimit: 7, maxDuration: time.Second, routeCap: 1, maxInstances: 2, memoryLimit: 32 << 20}},
		{"memory above the host's cap is the cap", bundle.SegmentConfig{}, bundle.AppConfig{MemoryLimit: 1 << 30},
			limits{bodyLimit: DefaultBodyLimit, maxDuration: 30 * time.Second, maxInstances: 8}},
	}
	for _, tt := range tests {
		r := &route{Route: bundle.Route{Config: tt.route}}
		r.limits(tt.app, &opts)
		got := limits{bodyLimit: r.bodyLimit, maxDuration: r.maxDuration, routeCap: cap(r.slots)}
		got.memoryLimit, got.maxInstances = appLimits(tt.app, &opts)
		if got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
}
