// pgjdbc against the Log Insight SQL endpoint. See README.md for the checks and how to run it:
//   javac -d "$tmp" -cp /usr/share/java/postgresql.jar JdbcTest.java
//   java -cp "$tmp:/usr/share/java/postgresql.jar" JdbcTest
// Prints `ok <name>` / `FAIL <name>: <reason>` per check; exits 0 only if every check passed.

import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.sql.Types;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Properties;
import java.util.TreeSet;

public class JdbcTest {
    static final OffsetDateTime T0 = OffsetDateTime.of(2024, 5, 1, 12, 0, 0, 0, ZoneOffset.UTC);
    static final String PARAM_SQL =
            "SELECT ts, level, service, host, message FROM logs WHERE service = ? AND ts >= ? ORDER BY ts";
    static final String TYPES_SQL =
            "SELECT 1::int4 AS i4, 2::int8 AS i8, 1.5::float8 AS f8, 'x'::text AS t, NULL::text AS n, true AS b";

    static final List<String> failures = new ArrayList<>();
    static int passed = 0;
    static Connection shared;

    interface Check {
        void run() throws Exception;
    }

    static final class Wrong extends Exception {
        Wrong(String m) {
            super(m);
        }
    }

    static String env(String k, String d) {
        String v = System.getenv(k);
        return v == null || v.isEmpty() ? d : v;
    }

    static String url() {
        return "jdbc:postgresql://" + env("PGHOST", "127.0.0.1") + ":" + env("PGPORT", "5432") + "/"
                + env("PGDATABASE", "loginsight");
    }

    static Connection connect(Properties extra) throws SQLException {
        Properties p = new Properties();
        p.setProperty("user", env("PGUSER", "loginsight"));
        p.setProperty("connectTimeout", "10");
        p.setProperty("socketTimeout", "30");
        if (extra != null) p.putAll(extra);
        return DriverManager.getConnection(url(), p);
    }

    static Connection conn() throws SQLException {
        if (shared == null || shared.isClosed()) shared = connect(null);
        return shared;
    }

    static void eq(Object actual, Object expected, String what) throws Wrong {
        if (!Objects.equals(actual, expected)) {
            throw new Wrong(what + " expected " + show(expected) + ", got " + show(actual));
        }
    }

    static String show(Object o) {
        return o == null ? "null" : o + " (" + o.getClass().getSimpleName() + ")";
    }

    static void check(String name, Check c) {
        try {
            c.run();
            passed++;
            System.out.println("ok " + name);
        } catch (Wrong w) {
            failures.add(name);
            System.out.println("FAIL " + name + ": wrong result: " + w.getMessage());
        } catch (SQLException e) {
            failures.add(name);
            System.out.println("FAIL " + name + ": " + e.getClass().getName() + " [SQLSTATE " + e.getSQLState()
                    + "]: " + String.valueOf(e.getMessage()).replace("\n", " | "));
        } catch (Throwable e) {
            failures.add(name);
            System.out.println("FAIL " + name + ": " + e);
        }
        System.out.flush();
    }

    static long countLogs(Connection c) throws SQLException {
        try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT count(*) FROM logs")) {
            rs.next();
            return rs.getLong(1);
        }
    }

    static void checkParamRows(ResultSet rs) throws Exception {
        if (!rs.next()) throw new Wrong("no first row");
        OffsetDateTime ts = rs.getObject("ts", OffsetDateTime.class);
        if (ts == null || !ts.isEqual(T0)) throw new Wrong("ts expected " + T0 + ", got " + ts);
        Timestamp tsp = rs.getTimestamp("ts");
        eq(tsp.toInstant(), T0.toInstant(), "ts as java.sql.Timestamp instant");
        eq(rs.getString("level"), "ERROR", "level");
        eq(rs.getString("service"), "checkout", "service");
        eq(rs.getString("host"), "web-1", "host of row 1");
        eq(rs.getString("message"), "payment timed out", "message");
        if (!rs.next()) throw new Wrong("no second row");
        eq(rs.getString("host"), null, "host of row 2");
        if (!rs.wasNull()) throw new Wrong("wasNull() false for host of row 2");
        eq(rs.getString("message"), "order placed", "message of row 2");
        if (rs.next()) throw new Wrong("more than 2 rows");
    }

    static void expectSqlState(String sql, String code) throws Exception {
        Connection c = conn();
        try (Statement s = c.createStatement()) {
            s.execute(sql);
            throw new Wrong(sql + " succeeded; expected SQLSTATE " + code);
        } catch (SQLException e) {
            eq(e.getSQLState(), code, "SQLSTATE for " + sql + " (message: " + e.getMessage() + ")");
        }
        eq(countLogs(c), 3L, "count after the error:");
    }

    static void rawStatement(String sql) throws Exception {
        try (Statement s = conn().createStatement()) {
            s.execute(sql);
        }
    }

    public static void main(String[] args) {
        check("connect", () -> {
            shared = connect(null);
            try (Statement s = shared.createStatement(); ResultSet rs = s.executeQuery("SELECT 1")) {
                rs.next();
                eq(rs.getInt(1), 1, "SELECT 1");
            }
        });

        check("count", () -> {
            try (Statement s = conn().createStatement(); ResultSet rs = s.executeQuery("SELECT count(*) FROM logs")) {
                rs.next();
                Object v = rs.getObject(1);
                eq(v, 3L, "count(*) as getObject");
            }
        });

        check("params", () -> {
            try (PreparedStatement ps = conn().prepareStatement(PARAM_SQL)) {
                ps.setString(1, "checkout");
                ps.setObject(2, T0);
                try (ResultSet rs = ps.executeQuery()) {
                    checkParamRows(rs);
                }
            }
        });

        check("params_setTimestamp", () -> {
            try (PreparedStatement ps = conn().prepareStatement(PARAM_SQL)) {
                ps.setString(1, "checkout");
                ps.setTimestamp(2, Timestamp.from(T0.toInstant()), java.util.Calendar.getInstance(
                        java.util.TimeZone.getTimeZone("UTC")));
                try (ResultSet rs = ps.executeQuery()) {
                    checkParamRows(rs);
                }
            }
        });

        check("prepared_statement_10x_server_prepare", () -> {
            // pgjdbc switches to a named server-side statement after prepareThreshold (5) runs.
            try (PreparedStatement ps = conn().prepareStatement(
                    "SELECT count(*) FROM logs WHERE service = ? AND ts >= ?")) {
                for (int i = 1; i <= 10; i++) {
                    String svc = i % 2 == 0 ? "checkout" : "search";
                    ps.setString(1, svc);
                    ps.setObject(2, T0);
                    try (ResultSet rs = ps.executeQuery()) {
                        rs.next();
                        eq(rs.getLong(1), i % 2 == 0 ? 2L : 1L, "execution " + i + " count for " + svc);
                    }
                }
            }
        });

        check("prepared_statement_10x_param_query", () -> {
            try (PreparedStatement ps = conn().prepareStatement(PARAM_SQL)) {
                for (int i = 1; i <= 10; i++) {
                    ps.setString(1, "checkout");
                    ps.setObject(2, T0);
                    try (ResultSet rs = ps.executeQuery()) {
                        try {
                            checkParamRows(rs);
                        } catch (Wrong w) {
                            throw new Wrong("execution " + i + ": " + w.getMessage());
                        }
                    }
                }
            }
        });

        check("prepared_statement_prepareThreshold_1_binary", () -> {
            // Server-prepared from the first run; pgjdbc then asks for binary results where it can.
            Properties p = new Properties();
            p.setProperty("prepareThreshold", "1");
            try (Connection c = connect(p); PreparedStatement ps = c.prepareStatement(PARAM_SQL)) {
                for (int i = 1; i <= 3; i++) {
                    ps.setString(1, "checkout");
                    ps.setObject(2, T0);
                    try (ResultSet rs = ps.executeQuery()) {
                        try {
                            checkParamRows(rs);
                        } catch (Wrong w) {
                            throw new Wrong("execution " + i + ": " + w.getMessage());
                        }
                    }
                }
            }
        });

        check("fetch_size_1_portal_suspended", () -> {
            // With autocommit off and a fetch size, pgjdbc executes the portal 1 row at a time
            // (Execute with a row limit, PortalSuspended, Execute again).
            try (Connection c = connect(null)) {
                c.setAutoCommit(false);
                try (PreparedStatement ps = c.prepareStatement(PARAM_SQL)) {
                    ps.setFetchSize(1);
                    ps.setString(1, "checkout");
                    ps.setObject(2, T0);
                    try (ResultSet rs = ps.executeQuery()) {
                        checkParamRows(rs);
                    }
                }
                c.commit();
            }
        });

        check("types", () -> {
            try (Statement s = conn().createStatement(); ResultSet rs = s.executeQuery(TYPES_SQL)) {
                ResultSetMetaData md = rs.getMetaData();
                List<Integer> t = new ArrayList<>();
                for (int i = 1; i <= md.getColumnCount(); i++) t.add(md.getColumnType(i));
                eq(t, List.of(Types.INTEGER, Types.BIGINT, Types.DOUBLE, Types.VARCHAR, Types.VARCHAR, Types.BIT),
                        "java.sql.Types of the columns");
                rs.next();
                eq(rs.getObject("i4"), 1, "i4");
                eq(rs.getObject("i8"), 2L, "i8");
                eq(rs.getObject("f8"), 1.5d, "f8");
                eq(rs.getObject("t"), "x", "t");
                eq(rs.getObject("n"), null, "n");
                eq(rs.getObject("b"), Boolean.TRUE, "b");
            }
        });

        check("json_attributes", () -> {
            try (Statement s = conn().createStatement();
                 ResultSet rs = s.executeQuery("SELECT attributes FROM logs WHERE service = 'search'")) {
                if (!rs.next()) throw new Wrong("no row");
                String v = rs.getString(1);
                if (v == null || !v.replaceAll("\\s", "").equals("{\"latency_ms\":12.5}")) {
                    throw new Wrong("attributes = " + v);
                }
            }
        });

        check("stats_sum", () -> {
            try (Statement s = conn().createStatement(); ResultSet rs = s.executeQuery("SELECT sum(count) FROM stats")) {
                rs.next();
                eq(rs.getLong(1), 3L, "sum(count)");
            }
        });

        check("database_metadata_getTables", () -> {
            DatabaseMetaData md = conn().getMetaData();
            TreeSet<String> names = new TreeSet<>();
            try (ResultSet rs = md.getTables(null, null, "%", new String[] {"TABLE"})) {
                while (rs.next()) names.add(rs.getString("TABLE_NAME"));
            }
            for (String t : List.of("logs", "stats", "insights", "patterns")) {
                if (!names.contains(t)) throw new Wrong("getTables lacks " + t + "; got " + names);
            }
        });

        check("database_metadata_getColumns_logs", () -> {
            DatabaseMetaData md = conn().getMetaData();
            List<String> cols = new ArrayList<>();
            try (ResultSet rs = md.getColumns(null, null, "logs", "%")) {
                while (rs.next()) cols.add(rs.getString("COLUMN_NAME"));
            }
            for (String col : List.of("ts", "level", "service", "host", "message", "attributes")) {
                if (!cols.contains(col)) throw new Wrong("getColumns(logs) lacks " + col + "; got " + cols);
            }
        });

        check("database_metadata_getColumns_types", () -> {
            // What GUI tools (DBeaver, DataGrip) show as the column type comes from pg_attribute.
            DatabaseMetaData md = conn().getMetaData();
            List<String> got = new ArrayList<>();
            for (String[] tc : new String[][] {{"logs", "ts"}, {"logs", "level"}, {"stats", "count"}}) {
                try (ResultSet rs = md.getColumns(null, null, tc[0], tc[1])) {
                    got.add(tc[0] + "." + tc[1] + "=" + (rs.next() ? rs.getString("TYPE_NAME") : "(missing)"));
                }
            }
            eq(String.join(", ", got), "logs.ts=timestamptz, logs.level=text, stats.count=int8",
                    "getColumns TYPE_NAME");
        });

        check("database_metadata_product", () -> {
            DatabaseMetaData md = conn().getMetaData();
            String v = md.getDatabaseProductVersion();
            if (v == null || v.isEmpty()) throw new Wrong("getDatabaseProductVersion empty");
            eq(md.getDatabaseProductName(), "PostgreSQL", "product name");
        });

        check("set_application_name", () -> rawStatement("SET application_name = 'x'"));

        check("show_server_version", () -> {
            try (Statement s = conn().createStatement(); ResultSet rs = s.executeQuery("SHOW server_version")) {
                if (!rs.next()) throw new Wrong("no row");
                String v = rs.getString(1);
                if (v == null || v.trim().isEmpty()) throw new Wrong("server_version = " + v);
            }
        });

        check("begin_commit_rollback_raw", () -> {
            rawStatement("BEGIN");
            eq(countLogs(conn()), 3L, "count in tx");
            rawStatement("COMMIT");
            rawStatement("BEGIN");
            rawStatement("SELECT 1");
            rawStatement("ROLLBACK");
        });

        check("transaction_api", () -> {
            try (Connection c = connect(null)) {
                c.setAutoCommit(false); // pgjdbc sends BEGIN before the next statement
                eq(countLogs(c), 3L, "count in tx");
                c.commit();
                eq(countLogs(c), 3L, "count in 2nd tx");
                c.rollback();
                c.setReadOnly(true); // SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY
                eq(countLogs(c), 3L, "count read-only tx");
                c.commit();
                c.setAutoCommit(true);
                eq(countLogs(c), 3L, "count autocommit");
            }
        });

        check("discard_all", () -> rawStatement("DISCARD ALL"));
        check("reset_all", () -> rawStatement("RESET ALL"));
        check("deallocate_all", () -> rawStatement("DEALLOCATE ALL"));

        check("read_only_drop_25006", () -> expectSqlState("DROP TABLE logs", "25006"));
        check("unknown_table_42P01", () -> expectSqlState("SELECT * FROM nope", "42P01"));

        check("unknown_table_42P01_prepared", () -> {
            try (PreparedStatement ps = conn().prepareStatement("SELECT * FROM nope WHERE x = ?")) {
                ps.setInt(1, 1);
                ps.executeQuery();
                throw new Wrong("succeeded");
            } catch (SQLException e) {
                eq(e.getSQLState(), "42P01", "SQLSTATE (message: " + e.getMessage() + ")");
            }
            eq(countLogs(conn()), 3L, "count after the error:");
        });

        try {
            if (shared != null) shared.close();
        } catch (SQLException ignored) {
            // closing is best-effort
        }
        System.out.println("pgjdbc: " + passed + " passed, " + failures.size() + " failed");
        System.exit(failures.isEmpty() ? 0 : 1);
    }
}
