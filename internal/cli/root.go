package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"
)

// GlobalOptions holds the flags that every command accepts, and what they
// set up before the command runs.
type GlobalOptions struct {
	LogLevel  logLevel  // --log-level
	LogFormat logFormat // --log-format

	// Logger writes diagnostics to stderr at LogLevel in LogFormat. The root
	// command sets it before any command's RunE runs.
	Logger *slog.Logger
}

// newRootCommand builds the whole command tree. Adding a command is one line
// in the AddCommand list below: a newXxxCommand constructor from its own file
// that takes g if it needs the global options.
//
// Subcommands must not define PersistentPreRunE: cobra would then skip the
// root's, which sets up g.Logger.
func newRootCommand() *cobra.Command {
	g := &GlobalOptions{
		LogLevel:  logLevel(slog.LevelWarn),
		LogFormat: "text",
	}
	cmd := &cobra.Command{
		Use:   "keywarden",
		Short: "Keep AWS IAM access keys healthy across an AWS Organization",
		Long: `keywarden keeps AWS IAM access keys healthy across an AWS Organization.

From one hub account it inventories the access keys of every IAM user in
every member account, judges them against a policy (age, use, one active key
per user, root keys, defaults from CIS AWS Foundations), and plans and applies
remediation: warn, rotate, deactivate, delete.

It is dry-run by default: reading and planning never change anything, and
only an explicit apply of a plan you can read acts on keys.

Diagnostics go to stderr (see --log-level and --log-format); results go to
stdout. Exit codes: 0 success, 1 error, 2 plan --detailed-exitcode found
changes, 3 some accounts could not be read, 4 findings at or above
--fail-on, 64 bad command line, 130 interrupted (docs/scripting.md).

Start with 'keywarden demo', which needs no AWS account.`,
		SilenceUsage:  true, // Main prints errors, once, with a hint
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			g.Logger = newLogger(cmd.ErrOrStderr(), slog.Level(g.LogLevel), g.LogFormat)
			// Packages that log through the default logger (the state
			// store) then follow --log-level and --log-format too.
			slog.SetDefault(g.Logger)
			g.Logger.Debug("run", "command", cmd.CommandPath(), "version", buildVersion())
			return nil
		},
	}
	f := cmd.PersistentFlags()
	f.Var(&g.LogLevel, "log-level", "write diagnostics at this `level` and above to stderr: debug, info, warn or error")
	f.Var(&g.LogFormat, "log-format", "diagnostics `format`: text or json")
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &UsageError{Command: c.CommandPath(), Err: err}
	})

	cmd.AddCommand(
		newVersionCommand(),
		newSandboxCommand(g),
		newScanCommand(g),
		newDemoCommand(g),
		newPolicyCommand(g),
		newPlanCommand(g),
		newApplyCommand(g),
		newUndoCommand(g),
		newRotateCommand(g),
		newExportCommand(g),
		newHistoryCommand(),
		newNotifyCommand(g),
		newStateCommand(g),
		newServeCommand(g),
	)

	finish(cmd)
	return cmd
}

// finish applies the rules every command shares, to cmd and all its
// subcommands:
//   - a command that only groups others prints its help when run bare and
//     rejects an unknown subcommand, instead of cobra's silent help;
//   - a command that does not say which arguments it takes takes none;
//   - an argument error is a *UsageError.
func finish(cmd *cobra.Command) {
	if cmd.HasSubCommands() && !cmd.Runnable() {
		if cmd.SuggestionsMinimumDistance <= 0 {
			cmd.SuggestionsMinimumDistance = 2 // cobra's own default, which SuggestionsFor lacks
		}
		cmd.Args = unknownCommand
		cmd.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	}
	if cmd.Args == nil {
		cmd.Args = cobra.NoArgs
	}
	validate := cmd.Args
	cmd.Args = func(c *cobra.Command, args []string) error {
		if err := validate(c, args); err != nil {
			return &UsageError{Command: c.CommandPath(), Err: err}
		}
		return nil
	}
	for _, sub := range cmd.Commands() {
		finish(sub)
	}
}

// unknownCommand is the argument check of a command that only groups others:
// any argument left over is a subcommand that does not exist.
func unknownCommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += fmt.Sprintf("; did you mean %q?", s[0])
	}
	return errors.New(msg)
}

// newLogger returns the slog logger for diagnostics, written to w.
func newLogger(w io.Writer, level slog.Level, format logFormat) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// logLevel is the value of --log-level. A value it does not know fails flag
// parsing, which makes it a usage error that names the flag.
type logLevel slog.Level

func (l *logLevel) String() string { return strings.ToLower(slog.Level(*l).String()) }
func (l *logLevel) Type() string   { return "level" }

func (l *logLevel) Set(s string) error {
	switch strings.ToLower(s) {
	case "debug":
		*l = logLevel(slog.LevelDebug)
	case "info":
		*l = logLevel(slog.LevelInfo)
	case "warn":
		*l = logLevel(slog.LevelWarn)
	case "error":
		*l = logLevel(slog.LevelError)
	default:
		return errors.New("want debug, info, warn or error")
	}
	return nil
}

// logFormat is the value of --log-format: "text" or "json".
type logFormat string

func (f *logFormat) String() string { return string(*f) }
func (f *logFormat) Type() string   { return "format" }

func (f *logFormat) Set(s string) error {
	switch s = strings.ToLower(s); s {
	case "text", "json":
		*f = logFormat(s)
		return nil
	default:
		return errors.New("want text or json")
	}
}
