// Go database/sql with github.com/lib/pq against the Log Insight SQL endpoint.
// See ../README.md for the checks. Built in GOPATH mode against Debian's lib/pq, so nothing is
// downloaded:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go run ./libpq_go_test
//
// Prints `ok <name>` / `FAIL <name>: <reason>` per check; exits 0 only if every check passed.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/lib/pq"
)

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

const paramSQL = "SELECT ts, level, service, host, message FROM logs WHERE service = $1 AND ts >= $2 ORDER BY ts"
const typesSQL = "SELECT 1::int4 AS i4, 2::int8 AS i8, 1.5::float8 AS f8, 'x'::text AS t, NULL::text AS n, true AS b"

type wrong struct{ msg string }

func (w wrong) Error() string { return w.msg }

func wrongf(format string, a ...interface{}) error { return wrong{fmt.Sprintf(format, a...)} }

var passed, failed int

func env(k, d string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return d
}

func dsn(extra string) string {
	return fmt.Sprintf("host=%s port=%s user=%s dbname=%s sslmode=disable connect_timeout=10 %s",
		env("PGHOST", "127.0.0.1"), env("PGPORT", "5432"), env("PGUSER", "loginsight"),
		env("PGDATABASE", "loginsight"), extra)
}

func describe(err error) string {
	var w wrong
	if errors.As(err, &w) {
		return "wrong result: " + w.msg
	}
	var pe *pq.Error
	if errors.As(err, &pe) {
		return fmt.Sprintf("pq.Error [SQLSTATE %s]: %s", pe.Code, strings.ReplaceAll(pe.Message, "\n", " | "))
	}
	return fmt.Sprintf("%T: %s", err, strings.ReplaceAll(err.Error(), "\n", " | "))
}

func check(name string, fn func(ctx context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		return fn(ctx)
	}()
	if err == nil {
		passed++
		fmt.Println("ok " + name)
	} else {
		failed++
		fmt.Printf("FAIL %s: %s\n", name, describe(err))
	}
}

func eq(actual, expected interface{}, what string) error {
	if !reflect.DeepEqual(actual, expected) {
		return wrongf("%s expected %#v, got %#v", what, expected, actual)
	}
	return nil
}

type logRow struct {
	ts                      time.Time
	level, service, message string
	host                    sql.NullString
}

func readParamRows(rows *sql.Rows) error {
	defer rows.Close()
	var got []logRow
	for rows.Next() {
		var r logRow
		if err := rows.Scan(&r.ts, &r.level, &r.service, &r.host, &r.message); err != nil {
			return err
		}
		got = append(got, r)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(got) != 2 {
		return wrongf("expected 2 rows, got %d: %+v", len(got), got)
	}
	if !got[0].ts.Equal(t0) {
		return wrongf("ts expected %s, got %s", t0, got[0].ts)
	}
	if _, off := got[0].ts.Zone(); off != 0 {
		return wrongf("ts zone offset %d, expected UTC (0)", off)
	}
	if got[0].level != "ERROR" || got[0].service != "checkout" || got[0].message != "payment timed out" ||
		got[0].host != (sql.NullString{String: "web-1", Valid: true}) {
		return wrongf("row 1 = %+v", got[0])
	}
	if got[1].host.Valid {
		return wrongf("host of row 2 expected NULL, got %q", got[1].host.String)
	}
	return eq(got[1].message, "order placed", "message of row 2")
}

func countLogs(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...interface{}) *sql.Row
}) (int64, error) {
	var n int64
	err := q.QueryRowContext(ctx, "SELECT count(*) FROM logs").Scan(&n)
	return n, err
}

func main() {
	db, err := sql.Open("postgres", dsn(""))
	if err != nil {
		fmt.Println("FAIL harness:", err)
		os.Exit(2)
	}
	defer db.Close()
	// One connection, so session statements and the checks after them share it.
	db.SetMaxOpenConns(1)

	check("connect", func(ctx context.Context) error {
		if err := db.PingContext(ctx); err != nil {
			return err
		}
		var one int64
		if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
			return err
		}
		return eq(one, int64(1), "SELECT 1")
	})

	check("count", func(ctx context.Context) error {
		var v interface{}
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM logs").Scan(&v); err != nil {
			return err
		}
		return eq(v, int64(3), "count (as scanned into interface{})")
	})

	check("params_db_query", func(ctx context.Context) error {
		rows, err := db.QueryContext(ctx, paramSQL, "checkout", t0)
		if err != nil {
			return err
		}
		return readParamRows(rows)
	})

	check("params_binary_parameters", func(ctx context.Context) error {
		// binary_parameters=yes: lib/pq skips the Describe round trip and binds at once.
		bdb, err := sql.Open("postgres", dsn("binary_parameters=yes"))
		if err != nil {
			return err
		}
		defer bdb.Close()
		rows, err := bdb.QueryContext(ctx, paramSQL, "checkout", t0)
		if err != nil {
			return err
		}
		return readParamRows(rows)
	})

	check("db_prepare_3x", func(ctx context.Context) error {
		stmt, err := db.PrepareContext(ctx, paramSQL)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i := 1; i <= 3; i++ {
			rows, err := stmt.QueryContext(ctx, "checkout", t0)
			if err != nil {
				return fmt.Errorf("execution %d: %w", i, err)
			}
			if err := readParamRows(rows); err != nil {
				return fmt.Errorf("execution %d: %w", i, err)
			}
		}
		return nil
	})

	check("db_prepare_count_rebind", func(ctx context.Context) error {
		stmt, err := db.PrepareContext(ctx, "SELECT count(*) FROM logs WHERE service = $1")
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, c := range []struct {
			svc string
			n   int64
		}{{"checkout", 2}, {"search", 1}, {"nope", 0}} {
			var n int64
			if err := stmt.QueryRowContext(ctx, c.svc).Scan(&n); err != nil {
				return err
			}
			if err := eq(n, c.n, "count for "+c.svc); err != nil {
				return err
			}
		}
		return nil
	})

	check("types", func(ctx context.Context) error {
		rows, err := db.QueryContext(ctx, typesSQL)
		if err != nil {
			return err
		}
		defer rows.Close()
		cts, err := rows.ColumnTypes()
		if err != nil {
			return err
		}
		var names []string
		for _, ct := range cts {
			names = append(names, ct.DatabaseTypeName())
		}
		if err := eq(names, []string{"INT4", "INT8", "FLOAT8", "TEXT", "TEXT", "BOOL"}, "DatabaseTypeName"); err != nil {
			return err
		}
		if !rows.Next() {
			return wrongf("no row")
		}
		vals := make([]interface{}, 6)
		ptrs := make([]interface{}, 6)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		return eq(vals, []interface{}{int64(1), int64(2), 1.5, "x", nil, true}, "row")
	})

	check("json_attributes", func(ctx context.Context) error {
		var s string
		if err := db.QueryRowContext(ctx, "SELECT attributes FROM logs WHERE service = 'search'").Scan(&s); err != nil {
			return err
		}
		var v map[string]interface{}
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			return wrongf("attributes %q is not JSON: %v", s, err)
		}
		return eq(v, map[string]interface{}{"latency_ms": 12.5}, "attributes")
	})

	check("stats_sum", func(ctx context.Context) error {
		var n int64
		if err := db.QueryRowContext(ctx, "SELECT sum(count) FROM stats").Scan(&n); err != nil {
			return err
		}
		return eq(n, int64(3), "sum(count)")
	})

	exec := func(sqlText string) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			_, err := db.ExecContext(ctx, sqlText)
			return err
		}
	}

	check("set_application_name", exec("SET application_name = 'x'"))

	check("show_server_version", func(ctx context.Context) error {
		var v string
		if err := db.QueryRowContext(ctx, "SHOW server_version").Scan(&v); err != nil {
			return err
		}
		if strings.TrimSpace(v) == "" {
			return wrongf("server_version empty")
		}
		return nil
	})

	check("begin_commit_rollback_raw", func(ctx context.Context) error {
		conn, err := db.Conn(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		for _, s := range []string{"BEGIN", "SELECT 1", "COMMIT", "BEGIN", "SELECT 1", "ROLLBACK"} {
			if _, err := conn.ExecContext(ctx, s); err != nil {
				return fmt.Errorf("%s: %w", s, err)
			}
		}
		return nil
	})

	check("transaction_api", func(ctx context.Context) error {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		n, err := countLogs(ctx, tx)
		if err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		if err := eq(n, int64(3), "count in tx"); err != nil {
			return err
		}
		tx, err = db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := countLogs(ctx, tx); err != nil {
			tx.Rollback()
			return err
		}
		return tx.Rollback()
	})

	check("transaction_api_readonly", func(ctx context.Context) error {
		// lib/pq sends BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY.
		tx, err := db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
		if err != nil {
			return err
		}
		n, err := countLogs(ctx, tx)
		if err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		return eq(n, int64(3), "count in read-only tx")
	})

	check("discard_all", exec("DISCARD ALL"))
	check("reset_all", exec("RESET ALL"))
	check("deallocate_all", exec("DEALLOCATE ALL"))

	expectCode := func(sqlText, code string, args ...interface{}) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			rows, err := db.QueryContext(ctx, sqlText, args...)
			if err == nil {
				for rows.Next() {
				}
				err = rows.Err()
				rows.Close()
			}
			if err == nil {
				return wrongf("%s succeeded; expected SQLSTATE %s", sqlText, code)
			}
			var pe *pq.Error
			if !errors.As(err, &pe) {
				return fmt.Errorf("not a server error: %w", err)
			}
			if string(pe.Code) != code {
				return wrongf("SQLSTATE for %s: expected %s, got %s (message: %s)", sqlText, code, pe.Code, pe.Message)
			}
			n, err := countLogs(ctx, db)
			if err != nil {
				return fmt.Errorf("connection after the error: %w", err)
			}
			return eq(n, int64(3), "count after the error:")
		}
	}

	check("read_only_drop_25006", expectCode("DROP TABLE logs", "25006"))
	check("unknown_table_42P01", expectCode("SELECT * FROM nope", "42P01"))
	check("unknown_table_42P01_with_args", expectCode("SELECT * FROM nope WHERE x = $1", "42P01", 1))

	fmt.Printf("lib/pq: %d passed, %d failed\n", passed, failed)
	if failed > 0 {
		os.Exit(1)
	}
}
