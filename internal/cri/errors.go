package cri

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Error is a failed runtime call. Code is the gRPC status code the runtime
// answered with and Message the runtime's own message, unchanged (it is
// what users see, for example a StartError's
// `exec: "nosuchcmd": executable file not found in $PATH`).
//
// errors.Is matches the typed error for Code: ErrNotFound,
// ErrAlreadyExists, ErrUnavailable, ErrUnimplemented, ErrDeadline (and
// context.DeadlineExceeded), or context.Canceled for codes.Canceled. Other
// codes (Unknown, Internal, InvalidArgument, …) match no typed error: the
// message is all there is.
//
// The text is "<typed error>: <message>", e.g. "not found: an error
// occurred when try to find container \"abc\": not found", the same as
// fmt.Errorf("%w: %s", ErrNotFound, message); it is the bare message when
// no typed error applies.
type Error struct {
	Code    codes.Code
	Message string
}

// NewError returns the *Error for a gRPC code and runtime message. Fakes use
// it so that their errors look exactly like the real client's.
func NewError(code codes.Code, message string) error {
	return &Error{Code: code, Message: message}
}

func (e *Error) Error() string {
	kinds := e.kinds()
	if len(kinds) == 0 {
		return e.Message
	}
	prefix := kinds[0].Error()
	if e.Message == "" {
		return prefix
	}
	if strings.HasPrefix(e.Message, prefix) {
		return e.Message
	}
	return prefix + ": " + e.Message
}

// Unwrap returns the typed errors this error matches (see Error).
func (e *Error) Unwrap() []error { return e.kinds() }

func (e *Error) kinds() []error {
	switch e.Code {
	case codes.NotFound:
		return []error{ErrNotFound}
	case codes.AlreadyExists:
		return []error{ErrAlreadyExists}
	case codes.Unavailable:
		return []error{ErrUnavailable}
	case codes.Unimplemented:
		return []error{ErrUnimplemented}
	case codes.DeadlineExceeded:
		return []error{ErrDeadline, context.DeadlineExceeded}
	case codes.Canceled:
		return []error{context.Canceled}
	}
	return nil
}

// Message returns the runtime's own message when err came from a runtime
// call (without the typed-error prefix), and err.Error() otherwise. It is
// the text to show a user, e.g. as a container's StartError message.
func Message(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
}

// fromGRPC maps a gRPC error to an *Error, once, at the edge of Client.
// Errors that carry no gRPC status are returned unchanged.
func fromGRPC(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	return &Error{Code: st.Code(), Message: st.Message()}
}

// ToGRPC turns an error returned by a Runtime back into a gRPC status
// error: *Error keeps its code and message; the typed errors and context
// errors get their code; anything else is codes.Unknown. It lets a fake
// Runtime be served over gRPC (tests of Client use it).
func ToGRPC(err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return status.Error(e.Code, e.Message)
	}
	code := codes.Unknown
	switch {
	case errors.Is(err, ErrNotFound):
		code = codes.NotFound
	case errors.Is(err, ErrAlreadyExists):
		code = codes.AlreadyExists
	case errors.Is(err, ErrUnavailable):
		code = codes.Unavailable
	case errors.Is(err, ErrUnimplemented):
		code = codes.Unimplemented
	case errors.Is(err, ErrDeadline), errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	}
	return status.Error(code, err.Error())
}
