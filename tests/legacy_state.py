"""The state database as it was before Alembic: schema 1, its number in ``PRAGMA user_version``, the
format of every ``state.sqlite`` made before issue 13. Tests build such a file to check it upgrades."""

SCHEMA_1_SQL = """
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE rounds (
        id           INTEGER PRIMARY KEY,
        platform     TEXT NOT NULL,
        chat_id      TEXT NOT NULL,
        scope_id     TEXT NOT NULL,
        started_at   REAL NOT NULL,
        ended_at     REAL,
        status       TEXT NOT NULL DEFAULT 'running'
                     CHECK (status IN ('running', 'finished', 'stopped', 'interrupted')),
        n_questions  INTEGER NOT NULL CHECK (n_questions >= 1),
        difficulty   TEXT NOT NULL
    );
    CREATE UNIQUE INDEX rounds_one_running ON rounds (platform, chat_id) WHERE status = 'running';
    CREATE INDEX rounds_status ON rounds (status);
    CREATE TABLE questions (
        id             INTEGER PRIMARY KEY,
        round_id       INTEGER NOT NULL REFERENCES rounds (id) ON DELETE CASCADE,
        idx            INTEGER NOT NULL CHECK (idx >= 0),
        kind           TEXT NOT NULL,
        taxon          TEXT NOT NULL,
        n_options      INTEGER NOT NULL CHECK (n_options BETWEEN 2 AND 12),
        correct_index  INTEGER NOT NULL CHECK (correct_index >= 0 AND correct_index < n_options),
        message_id     TEXT,
        asked_at       REAL NOT NULL,
        closes_at      REAL,
        closed         INTEGER NOT NULL DEFAULT 0 CHECK (closed IN (0, 1)),
        UNIQUE (round_id, idx)
    );
    CREATE INDEX questions_message ON questions (message_id);
    CREATE TABLE answers (
        id            INTEGER PRIMARY KEY,
        question_id   INTEGER NOT NULL REFERENCES questions (id) ON DELETE CASCADE,
        user_id       TEXT NOT NULL,
        display_name  TEXT NOT NULL,
        option        INTEGER NOT NULL CHECK (option >= 0),
        correct       INTEGER NOT NULL CHECK (correct IN (0, 1)),
        answered_at   REAL NOT NULL,
        UNIQUE (question_id, user_id)
    );
    CREATE INDEX answers_user ON answers (user_id);
    CREATE TABLE scores (
        platform      TEXT NOT NULL,
        scope_id      TEXT NOT NULL,
        user_id       TEXT NOT NULL,
        display_name  TEXT NOT NULL,
        points        INTEGER NOT NULL DEFAULT 0,
        answered      INTEGER NOT NULL DEFAULT 0,
        correct       INTEGER NOT NULL DEFAULT 0,
        updated_at    REAL NOT NULL,
        PRIMARY KEY (platform, scope_id, user_id)
    );
    CREATE INDEX scores_board ON scores (platform, scope_id, points DESC);
    CREATE TABLE identifications (
        id           INTEGER PRIMARY KEY,
        platform     TEXT NOT NULL,
        chat_hash    TEXT NOT NULL,
        taxon        TEXT NOT NULL,
        confidence   REAL NOT NULL CHECK (confidence >= 0 AND confidence <= 1),
        created_at   REAL NOT NULL
    );
    CREATE INDEX identifications_time ON identifications (created_at);
    """
