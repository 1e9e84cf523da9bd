package serve

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/ipfs-accelerate/accel/inference/chat"
	"github.com/ipfs-accelerate/accel/inference/generate"
)

// apiError is an error in OpenAI's shape, with its HTTP status.
type apiError struct {
	status  int
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

func (e *apiError) Error() string { return e.Message }

// invalid is a bad request parameter.
func invalid(param, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, Message: fmt.Sprintf(format, args...), Type: "invalid_request_error",
		Param: ptr(param), Code: ptr("invalid_value")}
}

func modelNotFound(name string) *apiError {
	return &apiError{status: http.StatusNotFound, Message: fmt.Sprintf("the model %q is not pinned here (GET /v1/models lists those that are)", name),
		Type: "invalid_request_error", Param: ptr("model"), Code: ptr("model_not_found")}
}

// asAPIError is err in OpenAI's shape; param names the request's input,
// "prompt" or "messages".
func asAPIError(err error, param string) *apiError {
	var e *apiError
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, generate.ErrPromptTooLong):
		return &apiError{status: http.StatusBadRequest, Message: err.Error(), Type: "invalid_request_error",
			Param: ptr(param), Code: ptr("context_length_exceeded")}
	case errors.Is(err, chat.ErrTemplate):
		return &apiError{status: http.StatusBadRequest, Message: err.Error(), Type: "invalid_request_error", Param: ptr(param)}
	}
	return &apiError{status: http.StatusInternalServerError, Message: err.Error(), Type: "server_error"}
}

// errorBody is how an error travels: {"error": {…}}.
type errorBody struct {
	Error *apiError `json:"error"`
}

func writeError(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	json.NewEncoder(w).Encode(errorBody{e}) //nolint:errcheck // the client went away
}
