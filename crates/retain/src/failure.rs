//! How a failed command ends: one message without repeats, and an exit code that says whose
//! failure it is, the user's input, the environment (a full disk, an unwritable output, the
//! store out of reach), or retain's own. The codes are listed in `retain --help`
//! ([`EXIT_CODES`]) and in the README.

use std::io;

use retain_data::DataError;
use retain_pipeline::PipelineError;

use crate::out::StdoutError;

/// For `retain --help`.
pub const EXIT_CODES: &str = "\
Exit status:
  0   success (also when the reader of stdout stops early, as `| head` does)
  1   retain failed on its own (a bug, or the query engine gave up)
  2   bad input or options: the message names the file, line, column or flag to fix
  74  the environment failed: a full disk, an output that could not be written, the store \
out of reach (EX_IOERR); nothing partial is left: outputs are written whole or not at all, and \
stdout redirected to a file is cut back to where it was";

/// Whose failure an error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Stdout's reader went away (`retain … | head`): its choice, not a failure.
    ClosedPipe,
    /// A bug or an engine failure: exit 1.
    Internal,
    /// Input or options to fix: exit 2.
    Input,
    /// Disk full, write errors, store unavailable: exit 74.
    Environment,
}

impl Failure {
    pub fn of(error: &anyhow::Error) -> Failure {
        let mut writing = false;
        for cause in error.chain() {
            if cause.is::<StdoutError>()
                || matches!(data_error(cause), Some(DataError::Write { .. }))
            {
                writing = true;
            }
            if let Some(io) = cause.downcast_ref::<io::Error>() {
                if writing && io.kind() == io::ErrorKind::BrokenPipe {
                    return Failure::ClosedPipe;
                }
                if writing || environment_kind(io.kind()) {
                    return Failure::Environment;
                }
            }
            if cause
                .downcast_ref::<sqlx::Error>()
                .is_some_and(store_unavailable)
            {
                return Failure::Environment;
            }
            // Causes that reach us as text only (the query engine's spill files, SQLite).
            let text = cause.to_string();
            if ENVIRONMENT_MESSAGES.iter().any(|m| text.contains(m)) {
                return Failure::Environment;
            }
        }
        let internal = error
            .chain()
            .any(|cause| matches!(data_error(cause), Some(DataError::Engine(_))));
        if internal {
            Failure::Internal
        } else {
            Failure::Input
        }
    }

    pub fn exit_code(self) -> u8 {
        match self {
            Failure::ClosedPipe => 0,
            Failure::Internal => 1,
            Failure::Input => 2,
            Failure::Environment => 74,
        }
    }
}

/// A data error, also when the pipeline library passes one on (it is transparent there).
fn data_error<'a>(cause: &'a (dyn std::error::Error + 'static)) -> Option<&'a DataError> {
    match cause.downcast_ref::<PipelineError>() {
        Some(PipelineError::Data(error)) => Some(error),
        _ => cause.downcast_ref::<DataError>(),
    }
}

/// Failures of the machine, whatever was being done: reading can meet them too (a spill file).
fn environment_kind(kind: io::ErrorKind) -> bool {
    matches!(
        kind,
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded | io::ErrorKind::FileTooLarge
    )
}

/// SQLite's messages for a full disk and a failed read or write of its file, and the operating
/// system's for a full disk or quota (ENOSPC, EDQUOT) in errors passed on as text.
const ENVIRONMENT_MESSAGES: [&str; 4] = [
    "database or disk is full",
    "disk I/O error",
    "No space left on device",
    "Disk quota exceeded",
];

/// The store cannot be reached or cannot write: a connection's I/O failed, no connection could be
/// had, or PostgreSQL reports insufficient resources (SQLSTATE class 53, e.g. disk full) or a
/// system error (class 58, e.g. an I/O error).
fn store_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db
            .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
            .is_some_and(|pg| pg.code().starts_with("53") || pg.code().starts_with("58")),
        _ => false,
    }
}

/// A library error with the flags that fix it: the library names options by their field
/// (`horizon_days`) and columns by their name, the command line by its flags
/// (`--horizon-days`; `columns` maps a column the input lacks to the flag that names another).
pub fn with_flags(error: PipelineError, columns: &[(&str, &str)]) -> anyhow::Error {
    let flag = |field: &str| format!("--{}", field.replace('_', "-"));
    if let Some(option) = error.missing_option() {
        return anyhow::anyhow!("{error} (give {})", flag(option));
    }
    let unfit = error.unfit_options();
    if !unfit.is_empty() {
        let flags: Vec<String> = unfit.iter().map(|o| flag(o)).collect();
        return anyhow::anyhow!("{error} (see {})", flags.join(", "));
    }
    match error {
        PipelineError::Data(DataError::MissingColumn {
            file,
            wanted,
            available,
            hint,
        }) => {
            let hint = match columns.iter().find(|(column, _)| *column == wanted) {
                Some((_, flag)) => format!(" (choose one with --{flag})"),
                None => hint,
            };
            DataError::MissingColumn {
                file,
                wanted,
                available,
                hint,
            }
            .into()
        }
        // The data error itself, so that `Failure::of` sees it (a write error is exit 74).
        PipelineError::Data(error) => error.into(),
        error => error.into(),
    }
}

/// The error and its causes on one line, `: `-separated, each said once: a cause whose text
/// the previous one already contains (a wrapper that prints its source) is left out.
pub fn message(error: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in error.chain() {
        let text = cause.to_string();
        let said = text.trim().is_empty()
            || parts
                .last()
                .is_some_and(|previous| previous.contains(text.trim()));
        if !said {
            parts.push(text);
        }
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk_full() -> io::Error {
        io::Error::from(io::ErrorKind::StorageFull)
    }

    #[test]
    fn a_cause_repeated_by_its_wrapper_is_said_once() {
        let io = disk_full();
        let io_text = io.to_string();
        let write = DataError::Write {
            path: "out.csv".into(),
            source: Box::new(io),
        };
        let error = anyhow::Error::new(write).context("saving the summary");
        assert_eq!(error.chain().count(), 3);
        assert_eq!(
            message(&error),
            format!("saving the summary: writing out.csv: {io_text}")
        );
        // Different texts are all kept.
        let error = anyhow::anyhow!("the root")
            .context("the middle")
            .context("the top");
        assert_eq!(message(&error), "the top: the middle: the root");
    }

    #[test]
    fn failures_are_classified_by_their_causes() {
        let write = |source: io::Error| {
            anyhow::Error::new(DataError::Write {
                path: "out.csv".into(),
                source: Box::new(source),
            })
        };
        let denied = io::Error::from(io::ErrorKind::PermissionDenied);
        assert_eq!(Failure::of(&write(denied)), Failure::Environment);
        assert_eq!(
            Failure::of(&anyhow::Error::new(disk_full()).context("spilling")),
            Failure::Environment
        );
        let closed = io::Error::from(io::ErrorKind::BrokenPipe);
        assert_eq!(
            Failure::of(&anyhow::Error::new(StdoutError::from(closed))),
            Failure::ClosedPipe
        );
        // Reading a missing input is the user's to fix.
        let missing = DataError::Io {
            path: "missing.csv".into(),
            source: io::Error::from(io::ErrorKind::NotFound),
        };
        assert_eq!(Failure::of(&anyhow::Error::new(missing)), Failure::Input);
        let no_folder = DataError::NoFolder {
            path: "nowhere/out.csv".into(),
            folder: "nowhere".into(),
        };
        assert_eq!(Failure::of(&anyhow::Error::new(no_folder)), Failure::Input);
        let engine = DataError::Engine("the plan failed".into());
        assert_eq!(
            Failure::of(&anyhow::Error::new(engine).context("summarizing")),
            Failure::Internal
        );
        let sqlite =
            anyhow::anyhow!("error returned from database: (code: 13) database or disk is full");
        assert_eq!(Failure::of(&sqlite), Failure::Environment);
        let unreachable = sqlx::Error::Io(io::Error::from(io::ErrorKind::ConnectionRefused));
        assert_eq!(
            Failure::of(&anyhow::Error::new(unreachable).context("opening the store")),
            Failure::Environment
        );
        assert_eq!(
            Failure::of(&anyhow::Error::new(sqlx::Error::RowNotFound)),
            Failure::Input
        );
    }
}
