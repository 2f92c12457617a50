package host

import (
	"context"
	"log/slog"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/wasmroute/wasmroute/bundle"
)

// code is a compiled module new instances start from, and the runtime it
// belongs to (nil: the pool's own).
type code struct {
	cm  wazero.CompiledModule
	rt  wazero.Runtime
	gen uint64
}

// setCode makes cm (in runtime rt, nil for the pool's) what new instances
// start from. Instances made from the previous code are retired: idle ones
// now, busy ones when their request ends.
func (p *pool) setCode(cm wazero.CompiledModule, rt wazero.Runtime) {
	gen := uint64(1)
	if old := p.code.Load(); old != nil {
		gen = old.gen + 1
	}
	p.code.Store(&code{cm: cm, rt: rt, gen: gen})
	if gen == 1 {
		return
	}
	p.mu.Lock()
	stale := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, inst := range stale {
		inst.close()
		p.release()
	}
}

// stale reports whether inst was made from code the pool no longer uses.
func (p *pool) stale(inst *instance) bool {
	c := p.code.Load()
	return c != nil && inst.gen != c.gen
}

// fastWait is how long compileFast waits for the compiler before it serves
// from the interpreter: a compilation cache hit takes well under it.
const fastWait = 150 * time.Millisecond

// compileFast is compile for Options.FastStart (wasmroute dev): it starts
// the compiler, and if that has not finished within fastWait, compiles the
// module for wazero's interpreter, which takes a fraction of the time, and
// serves from it while the compiler works; when it is done, new instances
// start from the compiled code. served reports whether the pool can serve
// (err then says why not); if not, compile goes the usual way. p.compileMu
// is held.
func (p *pool) compileFast() (served bool, err error) {
	type result struct {
		cm  wazero.CompiledModule
		err error
	}
	done := make(chan result, 1)
	p.h.life.RLock()
	if p.h.closed {
		p.h.life.RUnlock()
		return false, nil
	}
	p.h.bg.Add(1)
	p.h.life.RUnlock()
	go func() {
		defer p.h.bg.Done()
		var r result
		r.err = p.h.withApp(func() error {
			var err error
			r.cm, err = p.doCompile()
			return err
		})
		done <- r
	}()
	select {
	case r := <-done:
		// The compiler was quick (a cache hit): the usual way.
		return true, p.compiledLocked(r.cm, r.err)
	case <-time.After(fastWait):
	}
	start := time.Now()
	icm, irt, err := p.interpreted()
	if err != nil {
		// Wait for the compiler instead.
		r := <-done
		return true, p.compiledLocked(r.cm, r.err)
	}
	p.interp = icm
	p.checkCloneable(icm)
	p.setCode(icm, irt)
	p.ready.Store(true)
	p.h.log.Debug("serving from the interpreter while the module compiles", slog.String("module", p.module),
		slog.Duration("interpreter_compile", time.Since(start)))
	swap := func() {
		r := <-done
		p.compileMu.Lock()
		defer p.compileMu.Unlock()
		switch {
		case r.err != nil:
			p.h.log.Warn("module did not compile; serving from the interpreter", slog.String("module", p.module),
				slog.String("error", r.err.Error()))
		case p.closed:
			p.h.e.release(p.sha, p.network)
		default:
			p.compiled = r.cm
			p.setCode(r.cm, nil)
			p.h.log.Debug("serving the compiled module", slog.String("module", p.module), slog.Duration("compile", time.Since(start)))
		}
	}
	// Under the app's lock, so Close waits for the switch too.
	p.h.life.RLock()
	if p.h.closed {
		go swap()
	} else {
		p.h.bg.Add(1)
		go func() {
			defer p.h.bg.Done()
			swap()
		}()
	}
	p.h.life.RUnlock()
	return true, nil
}

// interpreted compiles the pool's module for the engine's interpreter.
func (p *pool) interpreted() (wazero.CompiledModule, wazero.Runtime, error) {
	rt, err := p.h.e.interpreter()
	if err != nil {
		return nil, nil, err
	}
	bin, err := bundle.ReadModule(p.h.dir, bundle.Module{File: p.module, SHA256: p.sha})
	if err != nil {
		return nil, nil, err
	}
	var cm wazero.CompiledModule
	err = p.h.withRuntime(func() (err error) {
		cm, err = rt.CompileModule(context.Background(), bin)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	if err := checkExports(cm); err != nil {
		cm.Close(context.Background())
		return nil, nil, err
	}
	return cm, rt, nil
}

// interpreter returns the engine's interpreter runtime, made on first use.
func (e *Engine) interpreter() (wazero.Runtime, error) {
	e.interpOnce.Do(func() {
		ctx := context.Background()
		cfg := wazero.NewRuntimeConfigInterpreter().
			WithMemoryLimitPages(e.opts.MemoryLimitPages).
			WithCloseOnContextDone(e.opts.CloseOnContextDone)
		rt := wazero.NewRuntimeWithConfig(ctx, cfg)
		if err := instantiateImports(ctx, rt); err != nil {
			rt.Close(ctx)
			e.interpErr = err
			return
		}
		e.interp = rt
	})
	return e.interp, e.interpErr
}
