// Package cli implements the keywarden command line: one cobra command per
// file, each with its own Options struct, built into a tree by
// newRootCommand.
//
// [Main] is the whole program: it runs the command tree with a context that
// is cancelled on SIGINT or SIGTERM, prints any error once as
// "keywarden: <message>" on stderr, and turns it into an exit code with
// [ExitCode], the only place where errors become exit codes.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes, documented in docs/scripting.md. They follow Terraform's
// scheme (errors 1, changes 2 only with --detailed-exitcode); a bad
// command line has its own code, 64 (EX_USAGE), so that a script never
// takes a typo for "the plan has changes". When several apply, the first
// in this order wins: 130, 64, 1, 3, 4, 2.
const (
	ExitOK          = 0   // success
	ExitError       = 1   // any error not listed below
	ExitChanges     = 2   // plan --detailed-exitcode: the plan changes keys (as Terraform's)
	ExitPartial     = 3   // the command finished, but some accounts could not be read
	ExitFindings    = 4   // findings at or above --fail-on
	ExitUsage       = 64  // bad command line: unknown command or flag, bad flag value, wrong or missing arguments
	ExitInterrupted = 130 // interrupted by SIGINT (Ctrl-C) or SIGTERM
)

// ErrInterrupted is the error Main reports when a signal cancelled the run.
var ErrInterrupted = errors.New("interrupted")

// ErrPartial is wrapped by the error of a command that finished and wrote
// its output, but could not read every account.
var ErrPartial = errors.New("some accounts could not be read")

// ErrFindings is wrapped by the error of a scan that found what --fail-on
// names.
var ErrFindings = errors.New("findings")

// UsageError reports a bad command line: an unknown command or flag, a flag
// value that does not parse, or the wrong number of arguments. ExitCode maps
// it to ExitUsage, and Main prints a hint to run the command's --help.
type UsageError struct {
	// Command is the full path of the command that rejected the command
	// line, such as "keywarden version".
	Command string
	Err     error
}

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// ExitCode returns the process exit code for err, the error a command
// returned: ExitOK for nil, ExitInterrupted for ErrInterrupted or
// context.Canceled, ExitUsage for a *UsageError, ExitPartial for ErrPartial,
// ExitFindings for ErrFindings, ExitChanges for ErrChanges, and ExitError
// for anything else. Wrapped errors are matched with errors.Is and errors.As.
func ExitCode(err error) int {
	var usage *UsageError
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, ErrInterrupted), errors.Is(err, context.Canceled):
		return ExitInterrupted
	case errors.As(err, &usage):
		return ExitUsage
	case errors.Is(err, ErrPartial):
		return ExitPartial
	case errors.Is(err, ErrFindings):
		return ExitFindings
	case errors.Is(err, ErrChanges):
		return ExitChanges
	default:
		return ExitError
	}
}

// Main runs keywarden with os.Args and the process's standard streams and
// returns the exit code; cmd/keywarden passes it to os.Exit. The first
// SIGINT or SIGTERM cancels the context the commands run with; a second one
// kills the process at once.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // restore the default handling: a second Ctrl-C kills
	}()

	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		err = ErrInterrupted
	}
	if err != nil && !errors.Is(err, ErrChanges) { // an answer, not an error
		printError(os.Stderr, err)
	}
	return ExitCode(err)
}

// run builds the command tree and runs it with args (without the program
// name).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if args == nil {
		args = []string{} // nil would make cobra read os.Args
	}
	cmd := newRootCommand()
	cmd.SetArgs(args)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	return cmd.ExecuteContext(ctx)
}

// printError writes err as "keywarden: <message>", followed for a usage
// error by a hint naming the help to read.
func printError(w io.Writer, err error) {
	fmt.Fprintf(w, "keywarden: %v\n", err)
	var usage *UsageError
	if errors.As(err, &usage) {
		fmt.Fprintf(w, "keywarden: run '%s --help' for usage\n", usage.Command)
	}
}
