//go:build js && wasm

package main

import (
	"errors"
	"syscall/js"
)

// promise returns a JS Promise settled by work, which runs on its own
// goroutine so that the JS event loop is never blocked: it resolves with
// work's value or rejects with an Error carrying work's error message.
func promise(work func() (any, error)) js.Value {
	var executor js.Func
	executor = js.FuncOf(func(_ js.Value, args []js.Value) any {
		executor.Release()
		resolve, reject := args[0], args[1]
		go func() {
			v, err := work()
			if err != nil {
				reject.Invoke(js.Global().Get("Error").New(err.Error()))
				return
			}
			resolve.Invoke(v)
		}()
		return nil
	})
	return js.Global().Get("Promise").New(executor)
}

// await waits for a JS value to settle, as the await keyword does: a
// Promise (or any thenable) gives its result or its rejection as an error;
// any other value is returned as is. It must be called from a goroutine
// other than the one running a JS callback.
func await(v js.Value) (js.Value, error) {
	if v.Type() != js.TypeObject || v.Get("then").Type() != js.TypeFunction {
		return v, nil
	}
	type result struct {
		v   js.Value
		err error
	}
	done := make(chan result, 1)
	onResolve := js.FuncOf(func(_ js.Value, args []js.Value) any {
		done <- result{v: arg(args, 0)}
		return nil
	})
	onReject := js.FuncOf(func(_ js.Value, args []js.Value) any {
		done <- result{err: jsError(arg(args, 0))}
		return nil
	})
	defer onResolve.Release()
	defer onReject.Release()
	v.Call("then", onResolve, onReject)
	r := <-done
	return r.v, r.err
}

// arg is args[i], or undefined when there are fewer arguments.
func arg(args []js.Value, i int) js.Value {
	if i < len(args) {
		return args[i]
	}
	return js.Undefined()
}

// jsError turns a thrown JS value into a Go error with its message.
func jsError(reason js.Value) error {
	if reason.Type() == js.TypeObject && reason.Get("message").Type() == js.TypeString {
		return errors.New(reason.Get("message").String())
	}
	return errors.New(reason.String())
}

// call invokes fn with args when fn is a function; an absent optional
// callback is skipped. It returns fn's result, or undefined.
func call(fn js.Value, args ...any) js.Value {
	if fn.Type() != js.TypeFunction {
		return js.Undefined()
	}
	return fn.Invoke(args...)
}

// uint8Array returns a Uint8Array, or an ArrayBuffer as one.
func uint8Array(v js.Value) (js.Value, error) {
	u8 := js.Global().Get("Uint8Array")
	switch {
	case v.InstanceOf(u8):
		return v, nil
	case v.InstanceOf(js.Global().Get("ArrayBuffer")):
		return u8.New(v), nil
	}
	return v, errors.New("expected a Uint8Array or an ArrayBuffer")
}

// bytesOf copies a Uint8Array or ArrayBuffer into Go memory.
func bytesOf(v js.Value) ([]byte, error) {
	v, err := uint8Array(v)
	if err != nil {
		return nil, err
	}
	b := make([]byte, v.Length())
	js.CopyBytesToGo(b, v)
	return b, nil
}

// option reads a number option of a JS options object, or def when the
// object or the field is absent.
func option(opts js.Value, name string, def float64) float64 {
	if opts.Type() != js.TypeObject {
		return def
	}
	if v := opts.Get(name); v.Type() == js.TypeNumber {
		return v.Float()
	}
	return def
}
