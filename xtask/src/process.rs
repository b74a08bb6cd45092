//! Running programs: one-shot commands, long-lived children that die with us, and free ports.

use std::ffi::OsStr;
use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// How long a child gets to exit after SIGTERM before it is killed outright.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// How often readiness and exit are polled; short enough not to add visible start-up time.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// The workspace root, whatever directory `cargo xtask` was started from.
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// The workspace's target directory, honouring `CARGO_TARGET_DIR`.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || project_root().join("target"),
        |dir| project_root().join(dir),
    )
}

/// A `cargo` command run from the workspace root, using the cargo that started us.
pub fn cargo() -> Command {
    let program = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(program);
    command.current_dir(project_root());
    command
}

/// The command line as the user would type it, for messages.
pub fn display(command: &Command) -> String {
    let program = Path::new(command.get_program())
        .file_name()
        .unwrap_or_else(|| command.get_program());
    std::iter::once(program)
        .chain(command.get_args())
        .map(OsStr::to_string_lossy)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `command` with inherited stdio and fails unless it exits successfully.
pub fn run(command: &mut Command) -> Result<()> {
    let status = command.status().map_err(|source| Error::Spawn {
        program: display(command),
        source,
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::Command {
            command: display(command),
            status,
        })
    }
}

/// Runs `command` quietly and answers whether it exited successfully (false if it cannot start).
pub fn succeeds(command: &mut Command) -> bool {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Runs `command` and returns its standard output, failing unless it exits successfully.
pub fn output(command: &mut Command) -> Result<String> {
    let out = command
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|source| Error::Spawn {
            program: display(command),
            source,
        })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(Error::Command {
            command: display(command),
            status: out.status,
        })
    }
}

/// A port on 127.0.0.1 that was free a moment ago: bound to port 0, then released.
pub fn free_port() -> Result<u16> {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(Error::io("bind", "127.0.0.1:0"))?;
    let port = listener
        .local_addr()
        .map_err(Error::io("read the address of", "127.0.0.1:0"))?
        .port();
    Ok(port)
}

/// A long-lived child process that is stopped when this value is dropped, including on error
/// or panic, so a failed benchmark never leaves a server holding a core.
#[derive(Debug)]
pub struct Process {
    name: String,
    log: PathBuf,
    child: Child,
}

impl Process {
    /// Starts `command` with stdout and stderr appended to `log`, stdin closed.
    pub fn spawn(name: &str, mut command: Command, log: &Path) -> Result<Self> {
        let out = File::create(log).map_err(Error::io("create", log))?;
        let err = out.try_clone().map_err(Error::io("reopen", log))?;
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|source| Error::Spawn {
                program: display(&command),
                source,
            })?;
        Ok(Process {
            name: name.to_owned(),
            log: log.to_owned(),
            child,
        })
    }

    /// The operating-system process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Waits until `port` on 127.0.0.1 accepts a connection, failing early if the child exits.
    pub fn wait_for_port(&mut self, port: u16, timeout: Duration) -> Result<()> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(Error::EarlyExit {
                    name: self.name.clone(),
                    status,
                    log: self.log.clone(),
                });
            }
            if TcpStream::connect_timeout(&addr, POLL_INTERVAL).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::PortTimeout {
                    name: self.name.clone(),
                    port,
                    secs: timeout.as_secs(),
                });
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// Asks the child to stop with SIGTERM (so nginx's master takes its workers down with it),
    /// then kills it if it is still there after [`STOP_GRACE`].
    fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let terminated = succeeds(Command::new("kill").arg("-TERM").arg(self.id().to_string()));
        let deadline = Instant::now() + STOP_GRACE;
        while terminated && Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            thread::sleep(POLL_INTERVAL);
        }
        // Already gone is the only way kill can fail here, and then there is nothing to do.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_shows_program_file_name_and_args() {
        let mut command = Command::new("/usr/bin/taskset");
        command.args(["-c", "1", "wrk", "--latency"]);
        assert_eq!(display(&command), "taskset -c 1 wrk --latency");
    }

    #[test]
    fn free_port_is_bindable() {
        let port = free_port().expect("free port");
        assert_ne!(port, 0);
        TcpListener::bind((Ipv4Addr::LOCALHOST, port)).expect("port is free again");
    }

    #[test]
    fn dropping_a_process_stops_it() {
        let dir = target_dir().join("xtask-test");
        std::fs::create_dir_all(&dir).expect("test dir");
        let mut command = Command::new("sleep");
        command.arg("30");
        let process = Process::spawn("sleeper", command, &dir.join("sleeper.log")).expect("spawn");
        let pid = process.id().to_string();
        drop(process);
        assert!(
            !Path::new("/proc").join(pid).exists(),
            "child still running"
        );
    }

    #[test]
    fn early_exit_is_reported_while_waiting_for_a_port() {
        let dir = target_dir().join("xtask-test");
        std::fs::create_dir_all(&dir).expect("test dir");
        let port = free_port().expect("free port");
        let mut process = Process::spawn("quitter", Command::new("true"), &dir.join("quitter.log"))
            .expect("spawn");
        let err = process
            .wait_for_port(port, Duration::from_secs(5))
            .expect_err("true never listens");
        assert!(matches!(err, Error::EarlyExit { .. }), "{err}");
    }
}
