//! Standard output of every command. `println!` panics when stdout cannot be written (a full
//! disk, `> /dev/full`); here a failed write is an error like any other ([`StdoutError`]), which
//! the command returns and `main` reports. And when stdout is a regular file (`> out.csv`,
//! `>> log`), a failed command cuts it back to the length it had when the command started
//! ([`undo`]), so no truncated result is left behind.
//!
//! Commands print with [`outln!`] and [`out!`] (each call written through at once, as a line
//! buffer would, so an interactive reader sees it), and large tables with [`write_buffered`].

use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::sync::Mutex;

/// `println!` that returns the write error instead of panicking: `outln!("{x}")?`.
macro_rules! outln {
    () => {
        $crate::out::print(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::out::print(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` that returns the write error instead of panicking: `out!("{table}")?`.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::out::print(format_args!($($arg)*))
    };
}

/// Standard output could not be written; the I/O error is the source.
#[derive(Debug)]
pub struct StdoutError(io::Error);

impl fmt::Display for StdoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "writing to standard output: {}", self.0)
    }
}

impl From<io::Error> for StdoutError {
    fn from(e: io::Error) -> Self {
        StdoutError(e)
    }
}

impl std::error::Error for StdoutError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// Where the bytes go: a duplicate of file descriptor 1 (so that its length can be restored),
/// or Rust's stdout where there is no such descriptor to duplicate.
enum Sink {
    File(File),
    Std(io::Stdout),
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::File(f) => f.write(buf),
            Sink::Std(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::File(f) => f.flush(),
            Sink::Std(s) => s.flush(),
        }
    }
}

struct Stdout {
    writer: BufWriter<Sink>,
    /// When stdout is a regular file: its length when the command started.
    start_length: Option<u64>,
}

impl Stdout {
    fn open() -> Stdout {
        let file = duplicate_stdout();
        let start_length = file
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .filter(|m| m.is_file())
            .map(|m| m.len());
        let sink = match file {
            Some(file) => Sink::File(file),
            None => Sink::Std(io::stdout()),
        };
        Stdout {
            writer: BufWriter::with_capacity(1 << 20, sink),
            start_length,
        }
    }
}

#[cfg(unix)]
fn duplicate_stdout() -> Option<File> {
    use std::os::fd::AsFd;
    io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .ok()
        .map(File::from)
}

#[cfg(not(unix))]
fn duplicate_stdout() -> Option<File> {
    None
}

static STDOUT: Mutex<Option<Stdout>> = Mutex::new(None);

fn with_stdout<R>(f: impl FnOnce(&mut BufWriter<Sink>) -> io::Result<R>) -> Result<R, StdoutError> {
    let mut stdout = STDOUT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let stdout = stdout.get_or_insert_with(Stdout::open);
    f(&mut stdout.writer).map_err(StdoutError)
}

/// Notes where stdout starts: called by `main` before any command writes.
pub fn start() {
    let mut stdout = STDOUT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    stdout.get_or_insert_with(Stdout::open);
}

/// Writes and flushes (what [`outln!`] and [`out!`] call).
pub fn print(args: fmt::Arguments<'_>) -> Result<(), StdoutError> {
    with_stdout(|w| {
        w.write_fmt(args)?;
        w.flush()
    })
}

/// Lets `write` fill the buffered stdout (a large table), then flushes.
pub fn write_buffered(
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), StdoutError> {
    with_stdout(|w| {
        write(w)?;
        w.flush()
    })
}

/// Flushes what is left: the end of a successful command.
pub fn finish() -> Result<(), StdoutError> {
    with_stdout(|w| w.flush())
}

/// After a failed command: drops what is still buffered and, when stdout is a regular file,
/// cuts it back to its length at the start (and puts the write position there), so that the
/// file holds what it held before the command, not a partial result.
pub fn undo() {
    let mut stdout = STDOUT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let Some(state) = stdout.take() else {
        return;
    };
    let (sink, _unwritten) = state.writer.into_parts();
    if let (Sink::File(mut file), Some(length)) = (sink, state.start_length) {
        // Nothing better can be done if these fail: the error being reported says why.
        if file.metadata().is_ok_and(|m| m.len() > length) {
            let _ = file.set_len(length);
        }
        let _ = file.seek(SeekFrom::Start(length));
    }
}
