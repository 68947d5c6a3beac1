// Package output writes a rendered report to the path given by --output,
// or to stdout.
//
// Two rules shape it. A report must never replace something that is not a
// report: /dev/null, /dev/stdout, a named pipe or a terminal is written into
// as it is, never renamed over or removed (as root, replacing /dev/null with
// a regular file breaks the machine). And a reader must never see half a
// report: a regular file is written beside its target and renamed over it
// only once the whole report is rendered, so a failed run leaves the old
// report as it was.
//
// Call Check before the long work starts, so that a bad path fails at once
// rather than after a scan; Write repeats the same checks.
//
// Decisions:
//
//   - "" and "-" mean stdout.
//   - A symlink is followed: the report lands on the file it points to
//     (replaced or created there), and the link itself stays. That is what a
//     user who points latest.html at a dated report, or the shell's ">",
//     expects.
//   - A path that leads to an open descriptor (/dev/stdout, /dev/fd/N,
//     /proc/self/fd/N) is written through that descriptor even when it is a
//     regular file, since renaming would only replace the shell's redirect
//     target behind its back. A regular file behind one is appended to:
//     opened afresh it would be written from offset 0, over what ">>" kept.
//   - A new file is made with mode 0600, since reports list users and key
//     IDs. A replaced file keeps its permission bits, so a report that was
//     made readable on purpose stays so. Its owner is not kept: the new file
//     belongs to whoever runs keywarden.
//   - A socket is refused: it cannot be opened as a file.
package output

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Check reports whether a report can be written to path, without creating
// anything: the directory must exist, and path, if it exists, must be
// something to write into rather than a directory or a socket.
func Check(path string) error {
	if toStdout(path) {
		return nil
	}
	if _, err := resolve(path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// Write renders to path: to stdout for "" and "-", straight into a device,
// pipe or open descriptor, and otherwise through a temporary file renamed
// over path once render has succeeded. On error a regular file at path is
// left as it was; what a device or pipe already received cannot be taken
// back.
func Write(path string, stdout io.Writer, render func(io.Writer) error) error {
	if toStdout(path) {
		return render(stdout)
	}
	if err := write(path, render); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func toStdout(path string) bool { return path == "" || path == "-" }

func write(path string, render func(io.Writer) error) error {
	d, err := resolve(path)
	switch {
	case err != nil:
		return err
	case d.info == nil:
		return replace(d.path, 0o600, render)
	case d.descriptor && d.info.Mode().IsRegular():
		return inPlace(path, os.O_APPEND, render)
	case d.descriptor || !d.info.Mode().IsRegular():
		return inPlace(path, 0, render)
	default:
		return replace(d.path, d.info.Mode().Perm(), render)
	}
}

// dest is where a write to a path lands.
type dest struct {
	path       string      // the file itself, symlinks followed
	info       fs.FileInfo // nil when path does not exist yet
	descriptor bool        // reached through /proc, as /dev/stdout is
}

// maxLinks bounds symlink chains, as the kernel does (ELOOP).
const maxLinks = 40

// resolve follows symlinks from path by hand rather than with
// filepath.EvalSymlinks, because a link into /proc/<pid>/fd does not point
// at a path (it may read "pipe:[1234]") and must be recognised as an open
// descriptor instead of followed.
func resolve(path string) (dest, error) {
	if os.IsPathSeparator(path[len(path)-1]) {
		return dest{}, fmt.Errorf("%s names a directory, not a file", path)
	}
	p := path
	for range maxLinks {
		dir := filepath.Dir(p)
		realDir, err := filepath.EvalSymlinks(dir)
		if errors.Is(err, fs.ErrNotExist) {
			return dest{}, fmt.Errorf("directory %s does not exist", dir)
		}
		if err != nil {
			return dest{}, err
		}
		if di, err := os.Stat(realDir); err != nil {
			return dest{}, err
		} else if !di.IsDir() {
			return dest{}, fmt.Errorf("%s is not a directory", dir)
		}
		if underProc(realDir) {
			fi, err := os.Stat(p)
			if err != nil {
				return dest{}, err
			}
			return dest{path: p, info: fi, descriptor: true}, usable(path, fi)
		}
		p = filepath.Join(realDir, filepath.Base(p))
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return dest{path: p}, nil
		}
		if err != nil {
			return dest{}, err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			return dest{path: p, info: fi}, usable(path, fi)
		}
		link, err := os.Readlink(p)
		if err != nil {
			return dest{}, err
		}
		if !filepath.IsAbs(link) {
			link = filepath.Join(realDir, link)
		}
		p = link
	}
	return dest{}, fmt.Errorf("more than %d symlinks", maxLinks)
}

// usable rejects what exists but cannot take a report.
func usable(path string, fi fs.FileInfo) error {
	switch {
	case fi.IsDir():
		return fmt.Errorf("%s is a directory", path)
	case fi.Mode()&fs.ModeSocket != 0:
		return fmt.Errorf("%s is a socket", path)
	}
	return nil
}

func underProc(dir string) bool {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return dir == "/proc" || strings.HasPrefix(dir, "/proc/")
}

// inPlace writes into what is already there. Without O_CREATE nothing is
// made if it has gone, and without O_TRUNC a device or pipe is not touched
// beyond the write.
func inPlace(path string, flag int, render func(io.Writer) error) error {
	f, err := os.OpenFile(path, os.O_WRONLY|flag, 0)
	if err != nil {
		return err
	}
	if err := render(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// replace writes to a temporary file in target's directory, so that the
// rename is atomic, and renames it over target only when all went well.
func replace(target string, perm fs.FileMode, render func(io.Writer) error) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(target), "."+filepath.Base(target)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(perm); err != nil {
		return err
	}
	if err := render(tmp); err != nil {
		return err
	}
	// Sync before the rename, or a crash could leave an empty file where
	// the old report was.
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), target)
}
