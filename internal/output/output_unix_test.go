//go:build unix

package output

import (
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestWriteSpecial writes to files that are not regular files; each must
// keep its type and get no temporary file beside it.
func TestWriteSpecial(t *testing.T) {
	// More than a pipe buffer (64 KiB on Linux), so the write only
	// finishes if the report streams into the pipe as it is read.
	big := strings.Repeat("0123456789abcdef", 16<<10)
	tests := []struct {
		name string
		// setup makes the special file in dir and returns the path to
		// write to and the file's type.
		setup   func(t *testing.T, dir string) (string, fs.FileMode)
		wantErr string // substring; "" for success
	}{
		{
			name: "named pipe",
			setup: func(t *testing.T, dir string) (string, fs.FileMode) {
				return mkfifo(t, filepath.Join(dir, "pipe")), fs.ModeNamedPipe
			},
		},
		{
			name: "symlink to named pipe",
			setup: func(t *testing.T, dir string) (string, fs.FileMode) {
				mkfifo(t, filepath.Join(dir, "pipe"))
				return symlink(t, "pipe", filepath.Join(dir, "link")), fs.ModeSymlink
			},
		},
		{
			name: "socket",
			setup: func(t *testing.T, dir string) (string, fs.FileMode) {
				path := filepath.Join(dir, "sock")
				l, err := net.Listen("unix", path)
				if err != nil {
					t.Skipf("no unix sockets here: %v", err)
				}
				t.Cleanup(func() { l.Close() })
				return path, fs.ModeSocket
			},
			wantErr: "is a socket",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path, typ := tt.setup(t, dir)
			before := dirNames(t, dir)
			if err := Check(path); (err != nil) != (tt.wantErr != "") {
				t.Errorf("Check = %v, want error %v", err, tt.wantErr != "")
			}

			got := make(chan []byte, 1)
			if tt.wantErr == "" {
				go func() {
					// Open blocks until Write opens the other end.
					f, err := os.Open(path)
					if err != nil {
						t.Error(err)
						got <- nil
						return
					}
					defer f.Close()
					b, err := io.ReadAll(f)
					if err != nil {
						t.Error(err)
					}
					got <- b
				}()
			}
			err := Write(path, io.Discard, func(w io.Writer) error {
				_, err := io.WriteString(w, big)
				return err
			})
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Write = %v", err)
				unblockReader(path)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Write = %v, want error with %q", err, tt.wantErr)
			}
			if tt.wantErr == "" {
				select {
				case b := <-got:
					if string(b) != big {
						t.Errorf("reader got %d bytes, want %d", len(b), len(big))
					}
				case <-time.After(10 * time.Second):
					t.Error("reader got no end of file")
				}
			}

			fi, err := os.Lstat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Type() != typ {
				t.Errorf("%s is now %v, want type %v", path, fi.Mode().Type(), typ)
			}
			if after := dirNames(t, dir); !slices.Equal(before, after) {
				t.Errorf("dir held %v, then %v", before, after)
			}
		})
	}
}

func mkfifo(t *testing.T, path string) string {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("no named pipes here: %v", err)
	}
	return path
}

// unblockReader lets a reader waiting to open the pipe at path go on, when
// Write failed before opening it.
func unblockReader(path string) {
	f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0)
	if err == nil {
		f.Close()
	}
}
