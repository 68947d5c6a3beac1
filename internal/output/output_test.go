package output

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

const report = "<html>report</html>\n"

func renderReport(w io.Writer) error {
	_, err := io.WriteString(w, report)
	return err
}

var errRender = errors.New("render failed")

// renderHalf writes part of a report and then fails, as a renderer that
// breaks mid-way does.
func renderHalf(w io.Writer) error {
	io.WriteString(w, "<html>half")
	return errRender
}

func TestWriteStdout(t *testing.T) {
	for _, path := range []string{"", "-"} {
		t.Run("path="+path, func(t *testing.T) {
			dir := t.TempDir()
			t.Chdir(dir)
			var stdout bytes.Buffer
			if err := Write(path, &stdout, renderReport); err != nil {
				t.Fatalf("Write(%q) = %v", path, err)
			}
			if got := stdout.String(); got != report {
				t.Errorf("stdout = %q, want %q", got, report)
			}
			if names := dirNames(t, dir); len(names) != 0 {
				t.Errorf("Write(%q) made files %v; want none", path, names)
			}
			if err := Write(path, &stdout, renderHalf); !errors.Is(err, errRender) {
				t.Errorf("Write(%q) with failing render = %v, want %v", path, err, errRender)
			}
		})
	}
}

func TestWrite(t *testing.T) {
	tests := []struct {
		name string
		// setup prepares dir and returns the path to write to.
		setup  func(t *testing.T, dir string) string
		render func(io.Writer) error
		// wantErr is a substring of the error, "" for success.
		wantErr string
		// wantIs, if set, must be wrapped by the error.
		wantIs error
		// files is what dir holds afterwards, name to content; a
		// leftover temporary file shows up as an extra name.
		files map[string]string
		// mode is the permission bits of "report.html" afterwards.
		mode fs.FileMode
		// check makes further checks.
		check func(t *testing.T, dir string)
	}{
		{
			name:   "new file",
			setup:  func(t *testing.T, dir string) string { return filepath.Join(dir, "report.html") },
			render: renderReport,
			files:  map[string]string{"report.html": report},
			mode:   0o600,
		},
		{
			name: "replace regular file",
			setup: func(t *testing.T, dir string) string {
				return writeFile(t, dir, "report.html", "old report", 0o644)
			},
			render: renderReport,
			files:  map[string]string{"report.html": report},
			mode:   0o644,
		},
		{
			name: "render error keeps old file",
			setup: func(t *testing.T, dir string) string {
				return writeFile(t, dir, "report.html", "old report", 0o640)
			},
			render:  renderHalf,
			wantErr: "render failed",
			wantIs:  errRender,
			files:   map[string]string{"report.html": "old report"},
			mode:    0o640,
		},
		{
			name:    "render error makes no file",
			setup:   func(t *testing.T, dir string) string { return filepath.Join(dir, "report.html") },
			render:  renderHalf,
			wantErr: "render failed",
			wantIs:  errRender,
			files:   map[string]string{},
		},
		{
			name: "symlink to regular file writes through",
			setup: func(t *testing.T, dir string) string {
				writeFile(t, dir, "report.html", "old report", 0o644)
				return symlink(t, "report.html", filepath.Join(dir, "latest.html"))
			},
			render: renderReport,
			files:  map[string]string{"report.html": report, "latest.html": report},
			mode:   0o644,
			check: func(t *testing.T, dir string) {
				assertSymlink(t, filepath.Join(dir, "latest.html"), "report.html")
			},
		},
		{
			name: "symlink to another directory writes through",
			setup: func(t *testing.T, dir string) string {
				other := t.TempDir()
				writeFile(t, other, "report.html", "old report", 0o644)
				t.Cleanup(func() {
					assertFiles(t, other, map[string]string{"report.html": report})
				})
				return symlink(t, filepath.Join(other, "report.html"), filepath.Join(dir, "latest.html"))
			},
			render: renderReport,
			files:  map[string]string{"latest.html": report},
		},
		{
			name: "symlink to missing file creates it",
			setup: func(t *testing.T, dir string) string {
				return symlink(t, "report.html", filepath.Join(dir, "latest.html"))
			},
			render: renderReport,
			files:  map[string]string{"report.html": report, "latest.html": report},
			mode:   0o600,
			check: func(t *testing.T, dir string) {
				assertSymlink(t, filepath.Join(dir, "latest.html"), "report.html")
			},
		},
		{
			name:    "missing directory",
			setup:   func(t *testing.T, dir string) string { return filepath.Join(dir, "missing-dir", "report.html") },
			render:  renderReport,
			wantErr: "missing-dir does not exist",
			files:   map[string]string{},
		},
		{
			name: "directory",
			setup: func(t *testing.T, dir string) string {
				if err := os.Mkdir(filepath.Join(dir, "report.html"), 0o755); err != nil {
					t.Fatal(err)
				}
				return filepath.Join(dir, "report.html")
			},
			render:  renderReport,
			wantErr: "report.html is a directory",
			check: func(t *testing.T, dir string) {
				if fi, err := os.Stat(filepath.Join(dir, "report.html")); err != nil || !fi.IsDir() {
					t.Errorf("report.html is no longer a directory: %v, %v", fi, err)
				}
				if names := dirNames(t, dir); !slices.Equal(names, []string{"report.html"}) {
					t.Errorf("dir holds %v, want [report.html]", names)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := tt.setup(t, dir)
			var stdout bytes.Buffer
			err := Write(path, &stdout, tt.render)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Write = %v", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("Write = nil, want error with %q", tt.wantErr)
			case err != nil:
				if !strings.HasPrefix(err.Error(), "write "+path+": ") || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("Write = %q, want \"write %s: ...%s...\"", err, path, tt.wantErr)
				}
				if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
					t.Errorf("Write = %v, does not wrap %v", err, tt.wantIs)
				}
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout got %q, want nothing", stdout.String())
			}
			if tt.files != nil {
				assertFiles(t, dir, tt.files)
			}
			if tt.mode != 0 && runtime.GOOS != "windows" {
				fi, err := os.Stat(filepath.Join(dir, "report.html"))
				if err != nil {
					t.Fatal(err)
				}
				if got := fi.Mode().Perm(); got != tt.mode {
					t.Errorf("mode = %v, want %v", got, tt.mode)
				}
			}
			if tt.check != nil {
				tt.check(t, dir)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir string) string
		wantErr string // substring; "" for no error
	}{
		{name: "empty", setup: func(*testing.T, string) string { return "" }},
		{name: "dash", setup: func(*testing.T, string) string { return "-" }},
		{name: "new file", setup: func(t *testing.T, dir string) string { return filepath.Join(dir, "report.html") }},
		{
			name:  "existing file",
			setup: func(t *testing.T, dir string) string { return writeFile(t, dir, "report.html", "old", 0o644) },
		},
		{
			name: "relative path",
			setup: func(t *testing.T, dir string) string {
				t.Chdir(dir)
				return "report.html"
			},
		},
		{
			name:    "missing directory",
			setup:   func(t *testing.T, dir string) string { return filepath.Join(dir, "missing-dir", "report.html") },
			wantErr: "directory " + "DIR" + "/missing-dir does not exist",
		},
		{
			name: "relative missing directory",
			setup: func(t *testing.T, dir string) string {
				t.Chdir(dir)
				return "missing-dir/report.html"
			},
			wantErr: "write missing-dir/report.html: directory missing-dir does not exist",
		},
		{
			name: "directory",
			setup: func(t *testing.T, dir string) string {
				if err := os.Mkdir(filepath.Join(dir, "out"), 0o755); err != nil {
					t.Fatal(err)
				}
				return filepath.Join(dir, "out")
			},
			wantErr: "DIR/out is a directory",
		},
		{
			name:    "trailing slash",
			setup:   func(t *testing.T, dir string) string { return dir + "/" },
			wantErr: "names a directory",
		},
		{
			name: "parent is a file",
			setup: func(t *testing.T, dir string) string {
				return filepath.Join(writeFile(t, dir, "notes.txt", "x", 0o644), "report.html")
			},
			wantErr: "DIR/notes.txt is not a directory",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := tt.setup(t, dir)
			before := dirNames(t, dir)
			err := Check(path)
			want := strings.ReplaceAll(tt.wantErr, "DIR", dir)
			switch {
			case want == "" && err != nil:
				t.Errorf("Check(%q) = %v, want nil", path, err)
			case want != "" && err == nil:
				t.Errorf("Check(%q) = nil, want error with %q", path, want)
			case err != nil && (!strings.HasPrefix(err.Error(), "write "+path+": ") || !strings.Contains(err.Error(), want)):
				t.Errorf("Check(%q) = %q, want \"write %s: ...%s...\"", path, err, path, want)
			}
			if after := dirNames(t, dir); !slices.Equal(before, after) {
				t.Errorf("Check changed the directory: %v, then %v", before, after)
			}
		})
	}
}

func writeFile(t *testing.T, dir, name, content string, mode fs.FileMode) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	// WriteFile's mode is subject to the umask.
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func symlink(t *testing.T, target, link string) string {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Skipf("no symlinks here: %v", err)
	}
	return link
}

func assertSymlink(t *testing.T, link, target string) {
	t.Helper()
	got, err := os.Readlink(link)
	if err != nil {
		t.Errorf("%s is no longer a symlink: %v", link, err)
	} else if got != target {
		t.Errorf("%s points to %q, want %q", link, got, target)
	}
}

// assertFiles checks that dir holds exactly these files, following
// symlinks for their content.
func assertFiles(t *testing.T, dir string, want map[string]string) {
	t.Helper()
	got := map[string]string{}
	for _, name := range dirNames(t, dir) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("read %s: %v", name, err)
			continue
		}
		got[name] = string(b)
	}
	for name, content := range want {
		if g, ok := got[name]; !ok {
			t.Errorf("%s is missing", name)
		} else if g != content {
			t.Errorf("%s = %q, want %q", name, g, content)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("unexpected file %s left in %s", name, dir)
		}
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
