//! A smart HTTP Git server for tests: `git http-backend` (a CGI program) behind a minimal
//! HTTP/1.1 server on a loopback port, one request per connection.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// What the server saw and how it behaves, shared with the connection threads.
#[derive(Default)]
struct Shared {
    /// The `Authorization` header of every request (`None` when there was none).
    authorizations: Mutex<Vec<Option<String>>>,
    /// When set, requests without exactly this `Authorization` value get a `401`.
    required_authorization: Option<String>,
    stop: AtomicBool,
}

/// `git http-backend` serving the repositories under a directory, stopped on drop.
pub(super) struct HttpBackend {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl HttpBackend {
    /// Serves the repositories under `project_root` (`http://127.0.0.1:<port>/<dir>`); with
    /// `basic_auth` (user, password), every request must carry these credentials.
    pub(super) fn start(project_root: &Path, basic_auth: Option<(&str, &str)>) -> Result<Self, String> {
        let exec_path = Command::new("git")
            .arg("--exec-path")
            .output()
            .map_err(|e| format!("cannot run git: {e}"))?;
        let backend = Path::new(String::from_utf8_lossy(&exec_path.stdout).trim()).join("git-http-backend");
        if !backend.is_file() {
            return Err(format!("{} does not exist", backend.display()));
        }
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("cannot listen: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("no local address: {e}"))?;
        let shared = Arc::new(Shared {
            required_authorization: basic_auth.map(|(u, p)| basic_authorization(u, p)),
            ..Shared::default()
        });
        let root = project_root.to_path_buf();
        let acceptor = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if shared.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (shared, root, backend) = (Arc::clone(&shared), root.clone(), backend.clone());
                    std::thread::spawn(move || {
                        if let Err(e) = serve(stream, &shared, &root, &backend) {
                            eprintln!("test http server: {e}");
                        }
                    });
                }
            })
        };
        Ok(HttpBackend {
            addr,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// The URL of the repository in directory `name` under the project root.
    pub(super) fn url(&self, name: &str) -> String {
        format!("http://{}/{name}", self.addr)
    }

    /// The `Authorization` headers received so far, one per request.
    pub(super) fn authorizations(&self) -> Vec<Option<String>> {
        self.shared.authorizations.lock().unwrap().clone()
    }
}

impl Drop for HttpBackend {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wakes the acceptor up so that it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// The `Authorization` header value of HTTP basic authentication.
pub(super) fn basic_authorization(user: &str, password: &str) -> String {
    format!("Basic {}", base64(format!("{user}:{password}").as_bytes()))
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Reads one request, runs the CGI program for it and writes its response.
fn serve(stream: TcpStream, shared: &Shared, root: &Path, backend: &PathBuf) -> Result<(), String> {
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let peer = stream.peer_addr().map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(stream.try_clone().map_err(|e| e.to_string())?);
    let mut line = String::new();
    reader.read_line(&mut line).map_err(|e| e.to_string())?;
    if line.trim().is_empty() {
        return Ok(()); // the wake-up connection of `Drop`
    }
    let mut parts = line.split_whitespace();
    let (method, target) = match (parts.next(), parts.next()) {
        (Some(m), Some(t)) => (m.to_owned(), t.to_owned()),
        _ => return Err(format!("bad request line {line:?}")),
    };
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).map_err(|e| e.to_string())?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    let body = read_body(&mut reader, &headers)?;
    let authorization = headers.get("authorization").cloned();
    shared.authorizations.lock().unwrap().push(authorization.clone());
    let mut out = stream;
    if let Some(required) = &shared.required_authorization
        && authorization.as_ref() != Some(required)
    {
        let message = b"authentication required\n";
        write!(
            out,
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\n\
             Content-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            message.len()
        )
        .and_then(|()| out.write_all(message))
        .map_err(|e| e.to_string())?;
        return Ok(());
    }

    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut cmd = Command::new(backend);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .env("REQUEST_METHOD", &method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("REMOTE_ADDR", peer.ip().to_string())
        .env("CONTENT_LENGTH", body.len().to_string());
    if authorization.is_some() {
        cmd.env("REMOTE_USER", "test");
    }
    for (header, var) in [
        ("content-type", "CONTENT_TYPE"),
        ("content-encoding", "HTTP_CONTENT_ENCODING"),
        ("git-protocol", "HTTP_GIT_PROTOCOL"),
    ] {
        if let Some(value) = headers.get(header) {
            cmd.env(var, value);
        }
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", backend.display()))?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    // Written from another thread: the program may answer before it has read everything.
    let writer = std::thread::spawn(move || stdin.write_all(&body));
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    let _ = writer.join();
    if !output.stderr.is_empty() {
        eprintln!("git-http-backend: {}", String::from_utf8_lossy(&output.stderr));
    }
    write_cgi_response(&mut out, &output.stdout)?;
    let _ = out.shutdown(Shutdown::Write);
    Ok(())
}

/// The request body: `Content-Length` bytes or the chunked transfer coding decoded.
fn read_body(reader: &mut impl BufRead, headers: &HashMap<String, String>) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).map_err(|e| e.to_string())?;
            let size = size.trim().split(';').next().unwrap_or("");
            let size =
                usize::from_str_radix(size, 16).map_err(|e| format!("bad chunk size {size:?}: {e}"))?;
            let mut chunk = vec![0; size + 2]; // the data and its CRLF
            reader.read_exact(&mut chunk).map_err(|e| e.to_string())?;
            if size == 0 {
                break; // no trailers are sent
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(len) = headers.get("content-length") {
        let len: usize = len
            .parse()
            .map_err(|e| format!("bad content-length {len:?}: {e}"))?;
        body.resize(len, 0);
        reader.read_exact(&mut body).map_err(|e| e.to_string())?;
    }
    Ok(body)
}

/// Turns a CGI response (headers, a `Status:` header among them, a blank line, the body) into an
/// HTTP/1.1 response.
fn write_cgi_response(out: &mut impl Write, cgi: &[u8]) -> Result<(), String> {
    let (head, body) = [&b"\r\n\r\n"[..], b"\n\n"]
        .iter()
        .filter_map(|sep| {
            cgi.windows(sep.len())
                .position(|w| w == *sep)
                .map(|at| (&cgi[..at], &cgi[at + sep.len()..]))
        })
        .min_by_key(|(head, _)| head.len())
        .ok_or("the CGI response has no header end")?;
    let mut status = "200 OK".to_owned();
    let mut response = Vec::new();
    for line in String::from_utf8_lossy(head).lines() {
        match line.split_once(':') {
            Some((name, value)) if name.eq_ignore_ascii_case("status") => status = value.trim().to_owned(),
            Some(_) => {
                response.extend_from_slice(line.trim_end().as_bytes());
                response.extend_from_slice(b"\r\n");
            }
            None => {}
        }
    }
    let mut head = format!("HTTP/1.1 {status}\r\n").into_bytes();
    head.extend_from_slice(&response);
    head.extend_from_slice(format!("Content-Length: {}\r\nConnection: close\r\n\r\n", body.len()).as_bytes());
    out.write_all(&head)
        .and_then(|()| out.write_all(body))
        .and_then(|()| out.flush())
        .map_err(|e| e.to_string())
}
