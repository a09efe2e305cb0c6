//! Starting the child processes (this same binary with a subcommand) and reading their
//! memory. A child is killed when its handle is dropped, on success and on error alike.

use std::{net::SocketAddr, process::Stdio, time::Duration};

use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    process::{Child, ChildStdout, Command},
};

use crate::{
    BoxError,
    altcha::StoreFill,
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
        Process::server_with(mode, emulator, None).await
    }

    /// Starts the server for `mode`, pointed at `emulator` and at `redis` when the mode uses
    /// them.
    pub(crate) async fn server_with(
        mode: Mode,
        emulator: &Process,
        redis: Option<&Redis>,
    ) -> Result<Process, BoxError> {
        let url = emulator.base_url();
        let mut args = vec!["serve", mode.name()];
        if mode.needs_emulator() {
            args.extend(["--emulator", &url]);
        }
        let redis_url = redis.map(Redis::url);
        if mode == Mode::AltchaRedis {
            let url = redis_url
                .as_deref()
                .ok_or("the Redis server needs a Redis")?;
            args.extend(["--redis", url]);
        }
        Process::start(&args).await
    }

    /// Starts the server for `mode`, its provider endpoint at `url` when it has one.
    pub(crate) async fn server_at(mode: Mode, url: Option<&str>) -> Result<Process, BoxError> {
        let mut args = vec!["serve", mode.name()];
        if let Some(url) = url {
            args.extend(["--emulator", url]);
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

/// Runs `captcha-bench store-memory` and reads the one JSON line it prints.
pub(crate) async fn store_memory(capacity: usize) -> Result<StoreFill, BoxError> {
    let output = Command::new(std::env::current_exe()?)
        .args(["store-memory", "--capacity", &capacity.to_string()])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .output()
        .await?;
    if !output.status.success() {
        return Err(format!("`store-memory` failed ({})", output.status).into());
    }
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// A `redis-server` of our own on a free port, nothing saved to disk; killed on drop.
pub(crate) struct Redis {
    child: Child,
    port: u16,
    pid: u32,
}

impl Redis {
    pub(crate) async fn start() -> Result<Redis, BoxError> {
        // A port the kernel just handed out and took back: free unless something grabs it in
        // the next milliseconds, and then Redis fails to start and says so.
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start redis-server (it is needed): {e}"))?;
        let pid = child.id().ok_or("redis-server exited at once")?;
        let began = std::time::Instant::now();
        // Ready when it answers PING: a bare connect can succeed before it serves.
        while !ping(port).await {
            if let Some(status) = child.try_wait()? {
                return Err(format!("redis-server exited ({status})").into());
            }
            if began.elapsed() > START_TIMEOUT {
                return Err(format!("redis-server did not start in {START_TIMEOUT:?}").into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(Redis { child, port, pid })
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub(crate) fn memory(&self) -> Result<Memory, BoxError> {
        Ok(procfs::memory(self.pid)?)
    }

    pub(crate) fn cpu_time(&self) -> Result<Duration, BoxError> {
        Ok(procfs::cpu_time(self.pid)?)
    }

    pub(crate) async fn stop(mut self) {
        self.child.kill().await.ok();
    }
}

async fn ping(port: u16) -> bool {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        stream.write_all(b"PING\r\n").await?;
        let mut buf = [0u8; 7];
        stream.read_exact(&mut buf).await?;
        Ok::<_, std::io::Error>(&buf == b"+PONG\r\n")
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(1), exchange).await,
        Ok(Ok(true))
    )
}
