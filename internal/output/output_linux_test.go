package output

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// TestWriteDevNull writes to /dev/null, which must stay the same device with
// nothing left beside it. A replaced /dev/null breaks the machine, so the
// test puts it back if it can.
func TestWriteDevNull(t *testing.T) {
	const null = "/dev/null"
	before, err := os.Lstat(null)
	if err != nil || before.Mode().Type() != fs.ModeDevice|fs.ModeCharDevice {
		t.Skipf("%s is not a character device here: %v, %v", null, before, err)
	}
	devBefore := dirNames(t, "/dev")
	t.Cleanup(func() { restoreDevNull(t, before) })

	tests := []struct {
		name    string
		render  func(io.Writer) error
		wantErr error
	}{
		{name: "report", render: renderReport},
		{name: "render error", render: renderHalf, wantErr: errRender},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Check(null); err != nil {
				t.Errorf("Check = %v", err)
			}
			err := Write(null, io.Discard, tt.render)
			if tt.wantErr == nil && err != nil {
				t.Errorf("Write = %v", err)
			}
			if tt.wantErr != nil && (!errors.Is(err, tt.wantErr) || !strings.HasPrefix(err.Error(), "write /dev/null: ")) {
				t.Errorf("Write = %v, want \"write /dev/null: ...\" wrapping %v", err, tt.wantErr)
			}
			after, err := os.Lstat(null)
			if err != nil {
				t.Fatal(err)
			}
			if after.Mode() != before.Mode() || !os.SameFile(before, after) {
				t.Errorf("%s was %v, is now %v (same file: %v)", null, before.Mode(), after.Mode(), os.SameFile(before, after))
			}
			for _, name := range dirNames(t, "/dev") {
				if !slices.Contains(devBefore, name) {
					t.Errorf("/dev/%s left behind", name)
				}
			}
		})
	}
}

// restoreDevNull puts /dev/null back as it was, if it was replaced and the
// test runs as root.
func restoreDevNull(t *testing.T, was fs.FileInfo) {
	const null = "/dev/null"
	if now, err := os.Lstat(null); err == nil && os.SameFile(was, now) {
		return
	}
	st, ok := was.Sys().(*syscall.Stat_t)
	if !ok || os.Geteuid() != 0 {
		t.Errorf("%s was replaced and cannot be restored", null)
		return
	}
	os.Remove(null)
	if err := syscall.Mknod(null, syscall.S_IFCHR|0o666, int(st.Rdev)); err != nil {
		t.Errorf("restore %s: %v", null, err)
		return
	}
	if err := os.Chmod(null, was.Mode().Perm()); err != nil {
		t.Errorf("restore %s: %v", null, err)
	}
}

// TestWriteDescriptor writes through an open descriptor to a regular file,
// as "keywarden scan --out /dev/stdout >>report.txt" does. The file must be
// appended to, not replaced: the shell holds it open.
func TestWriteDescriptor(t *testing.T) {
	tests := []struct {
		name string
		// path returns the path that leads to descriptor fd.
		path func(t *testing.T, fd uintptr) string
		// link, if set, is a symlink path must still be afterwards.
		link bool
	}{
		{
			name: "/proc/self/fd/N",
			path: func(t *testing.T, fd uintptr) string { return fmt.Sprintf("/proc/self/fd/%d", fd) },
		},
		{
			name: "/dev/fd/N",
			path: func(t *testing.T, fd uintptr) string {
				if _, err := os.Stat("/dev/fd"); err != nil {
					t.Skipf("no /dev/fd: %v", err)
				}
				return fmt.Sprintf("/dev/fd/%d", fd)
			},
		},
		{
			name: "symlink to /proc/self/fd/N, like /dev/stdout",
			path: func(t *testing.T, fd uintptr) string {
				return symlink(t, fmt.Sprintf("/proc/self/fd/%d", fd), filepath.Join(t.TempDir(), "stdout"))
			},
			link: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "report.txt")
			f, err := os.Create(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := io.WriteString(f, "kept\n"); err != nil {
				t.Fatal(err)
			}
			before, err := os.Stat(out)
			if err != nil {
				t.Fatal(err)
			}
			path := tt.path(t, f.Fd())

			if err := Check(path); err != nil {
				t.Errorf("Check(%s) = %v", path, err)
			}
			if err := Write(path, io.Discard, renderReport); err != nil {
				t.Fatalf("Write(%s) = %v", path, err)
			}

			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if want := "kept\n" + report; string(b) != want {
				t.Errorf("report.txt = %q, want %q", b, want)
			}
			if after, err := os.Stat(out); err != nil || !os.SameFile(before, after) {
				t.Errorf("report.txt was replaced (%v)", err)
			}
			if names := dirNames(t, dir); !slices.Equal(names, []string{"report.txt"}) {
				t.Errorf("dir holds %v, want [report.txt]", names)
			}
			if tt.link {
				if fi, err := os.Lstat(path); err != nil || fi.Mode().Type() != fs.ModeSymlink {
					t.Errorf("%s is no longer a symlink: %v", path, err)
				}
				if names := dirNames(t, filepath.Dir(path)); !slices.Equal(names, []string{"stdout"}) {
					t.Errorf("link's dir holds %v, want [stdout]", names)
				}
			}
		})
	}
}

// TestWriteDevStdout checks that /dev/stdout itself, whatever this test's
// stdout is, stays a symlink to the same file. The report is empty so as
// not to print into the test's output.
func TestWriteDevStdout(t *testing.T) {
	const stdout = "/dev/stdout"
	link, err := os.Readlink(stdout)
	if err != nil {
		t.Skipf("%s is not a symlink here: %v", stdout, err)
	}
	before, err := os.Stat(stdout)
	if err != nil {
		t.Skipf("stdout is closed: %v", err)
	}
	if err := Check(stdout); err != nil {
		t.Errorf("Check = %v", err)
	}
	if err := Write(stdout, io.Discard, func(io.Writer) error { return nil }); err != nil {
		t.Errorf("Write = %v", err)
	}
	if got, err := os.Readlink(stdout); err != nil || got != link {
		t.Errorf("%s now links to %q (%v), want %q", stdout, got, err, link)
	}
	if after, err := os.Stat(stdout); err != nil || !os.SameFile(before, after) {
		t.Errorf("stdout's file was replaced (%v)", err)
	}
}
