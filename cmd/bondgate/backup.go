package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bondgate/bondgate/internal/bolt"
)

// runBackup copies a bondgate bbolt file: from a running service over its
// authenticated GET /v1/admin/backup (--from URL --token T), or straight
// from the file when no process holds it (--data DIR). The copy is written
// to a temporary file, fsynced, checked like `bondgate check` and only then
// renamed to --out, so --out is either a good backup or absent.
func runBackup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flagSet("backup", "--data DIR --out FILE | --from URL --token T --out FILE", stderr)
	data := fs.String("data", "", "data folder of a stopped service (holds api.db or gate-<ID>.db)")
	dbName := fs.String("db", "", "which file in --data to copy when it holds several (e.g. api.db)")
	out := fs.String("out", "", "where to write the backup (required)")
	from := fs.String("from", "", "base URL of a running API or gate, e.g. http://127.0.0.1:8080 (hot backup)")
	token := fs.String("token", "", "bearer token (customs or auditor) for --from")
	timeout := fs.Duration("timeout", 2*time.Second, "how long to wait for the file lock with --data")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *out == "" || (*data == "") == (*from == "") {
		fs.Usage()
		return fmt.Errorf("give --out and one of --data or --from: %w", errUsage)
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o750); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(*out), "."+filepath.Base(*out)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	var n int64
	var source string
	if *from != "" {
		source = strings.TrimRight(*from, "/") + "/v1/admin/backup"
		n, err = fetchBackup(ctx, source, *token, tmp)
	} else {
		source, err = pickDataFile(*data, *dbName)
		if err == nil {
			n, err = bolt.BackupFile(source, tmp, *timeout)
			if errors.Is(err, bolt.ErrInUse) {
				err = fmt.Errorf("%s is in use by a running service: back it up hot with --from URL --token T", source)
			}
		}
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("backup of %s: %w", source, err)
	}
	if err := bolt.CheckFile(tmp.Name(), *timeout); err != nil {
		return fmt.Errorf("the copy of %s fails its check, %s not written: %w", source, *out, err)
	}
	if err := os.Rename(tmp.Name(), *out); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(*out)); err == nil {
		_ = d.Sync() // the rename itself on disk
		d.Close()
	}
	fmt.Fprintf(stdout, "backup of %s: %d bytes written to %s, check ok\n", source, n, *out)
	return nil
}

// fetchBackup streams GET url into w and insists on the whole body.
func fetchBackup(ctx context.Context, url, token string, w io.Writer) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
		return 0, fmt.Errorf("%s answered %s: %s", url, resp.Status, strings.TrimSpace(string(msg)))
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("after %d bytes: %w", n, err)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return n, fmt.Errorf("short copy: %d of %d bytes", n, resp.ContentLength)
	}
	return n, nil
}

// pickDataFile names the one bbolt file in dir (or the one called name).
func pickDataFile(dir, name string) (string, error) {
	if name != "" {
		return filepath.Join(dir, name), nil
	}
	files, err := bolt.DataFiles(dir)
	if err != nil {
		return "", err
	}
	switch len(files) {
	case 0:
		return "", fmt.Errorf("no *.db file in %s", dir)
	case 1:
		return files[0], nil
	}
	return "", fmt.Errorf("%s holds %d files (%s): name one with --db", dir, len(files), strings.Join(files, ", "))
}

// runCheck checks bondgate bbolt files as a service does at start (every
// page inside the file, then bbolt's consistency check), read-only and
// moving nothing. It prints one line per file and fails (exit 1) naming each
// damaged one.
func runCheck(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flagSet("check", "--data DIR | --file FILE", stderr)
	data := fs.String("data", "", "data folder: every *.db file in it is checked")
	file := fs.String("file", "", "one file to check (e.g. a backup)")
	timeout := fs.Duration("timeout", 2*time.Second, "how long to wait for the file lock")
	if err := parse(fs, args); err != nil {
		return err
	}
	var files []string
	switch {
	case *file != "" && *data == "":
		files = []string{*file}
	case *data != "" && *file == "":
		var err error
		if files, err = bolt.DataFiles(*data); err != nil {
			return err
		}
		if len(files) == 0 {
			return fmt.Errorf("no *.db file in %s", *data)
		}
	default:
		fs.Usage()
		return fmt.Errorf("give one of --data or --file: %w", errUsage)
	}
	var bad []string
	for _, f := range files {
		err := bolt.CheckFile(f, *timeout)
		switch {
		case err == nil:
			fmt.Fprintf(stdout, "ok       %s\n", f)
		case errors.Is(err, bolt.ErrInUse):
			fmt.Fprintf(stdout, "in use   %s: a running service holds it (it checked the file when it opened it); check a copy from `bondgate backup --from URL`\n", f)
			bad = append(bad, f+" (in use)")
		default:
			fmt.Fprintf(stdout, "CORRUPT  %s: %v\n", f, err)
			bad = append(bad, f)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%d of %d files failed the check: %s", len(bad), len(files), strings.Join(bad, ", "))
	}
	return nil
}
