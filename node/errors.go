package node

import "errors"

// Kinds of error the API's methods return, told apart with errors.Is: a
// caller's mistake in its arguments is ErrInvalid, something asked for
// that is not there is ErrNotFound; any other error is a failure of the
// node itself. The RPC API answers them 400, 404 and 500, and its client
// gives back errors of the same kinds.
var (
	ErrInvalid  = errors.New("invalid argument")
	ErrNotFound = errors.New("not found")
)

// Invalid marks err as a mistake in the caller's arguments (ErrInvalid);
// its text stays err's.
func Invalid(err error) error { return kindError{err, ErrInvalid} }

// NotFound marks err as naming something that is not there
// (ErrNotFound); its text stays err's.
func NotFound(err error) error { return kindError{err, ErrNotFound} }

// kindError is err of a kind: it says what err says and is both.
type kindError struct{ err, kind error }

func (e kindError) Error() string   { return e.err.Error() }
func (e kindError) Unwrap() []error { return []error{e.err, e.kind} }
