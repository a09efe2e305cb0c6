//! Starting the child processes (this same binary with a subcommand) and reading their
//! memory. A child is killed when its handle is dropped, on success and on error alike.

use std::{net::SocketAddr, process::Stdio, time::Duration};

use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, ChildStdout, Command},
};

use crate::{
    BoxError,
    procfs::{self, Memory},
    servers::Mode,
};

/// How long a child may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running child process and the address it listens on.
pub(crate) struct Process {
    child: Child,
    addr: SocketAddr,
    pid: u32,
    // Kept open: a child that writes to a closed pipe would fail.
    _stdout: BufReader<ChildStdout>,
}

impl Process {
    /// Starts the emulator.
    pub(crate) async fn emulator() -> Result<Process, BoxError> {
        Process::start(&["emulator"]).await
    }

    /// Starts the server for `mode`, pointed at `emulator` when the mode verifies with it.
    pub(crate) async fn server(mode: Mode, emulator: &Process) -> Result<Process, BoxError> {
        let url = emulator.base_url();
        let mut args = vec!["serve", mode.name()];
        if mode.needs_emulator() {
            args.extend(["--emulator", &url]);
        }
        Process::start(&args).await
    }

    async fn start(args: &[&str]) -> Result<Process, BoxError> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(args)
            // Held open by us; the child exits when it closes, so it never outlives us.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let pid = child.id().ok_or("the child exited at once")?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        let what = args.join(" ");
        match tokio::time::timeout(START_TIMEOUT, stdout.read_line(&mut line)).await {
            Ok(Ok(1..)) => {}
            Ok(_) => return Err(format!("`{what}` exited before listening").into()),
            Err(_) => return Err(format!("`{what}` did not start in {START_TIMEOUT:?}").into()),
        }
        let addr = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| format!("`{what}` said {line:?}, not `listening ADDR`"))?;
        Ok(Process {
            child,
            addr,
            pid,
            _stdout: stdout,
        })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub(crate) fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn memory(&self) -> Result<Memory, BoxError> {
        Ok(procfs::memory(self.pid)?)
    }

    /// The CPU time the child has used so far.
    pub(crate) fn cpu_time(&self) -> Result<Duration, BoxError> {
        Ok(procfs::cpu_time(self.pid)?)
    }

    /// Kills the child and waits for it, so that it no longer competes for the CPU.
    pub(crate) async fn stop(mut self) {
        self.child.kill().await.ok();
    }
}
