//! The engine's own HTTP/1.1 client connection, written by hand.
//!
//! A load generator asks little of HTTP: write one request, read one
//! response to its end, keep the connection for the next. A general
//! client (hyper) builds a request object and a header map, and parses
//! every response header into a map, for each request; wrk writes bytes
//! and skips what it does not need, at about an eighth of the
//! instructions. This module does what wrk does:
//!
//! - [`encode`] writes the request straight into the connection's reused
//!   buffer, refusing bytes that would break the framing (a CR or LF in a
//!   header, a space in the path), as a header map would;
//! - [`parse_head`] reads the status and the three headers that frame
//!   the body (`content-length`, `transfer-encoding`, `connection`), with
//!   httparse;
//! - [`Chunks`] walks a chunked body without keeping it;
//! - [`Http1Conn::round`] is one round trip, and says whether nothing at
//!   all came back (a kept connection the server had closed: the request
//!   can go again) or the connection can carry the next request.
//!
//! The response body is read to its end and dropped: the engine records
//! status and timing, never content.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A response head larger than this is refused (wrk's limit is similar).
const MAX_HEAD: usize = 64 * 1024;
/// A chunk-size or trailer line longer than this is refused.
const MAX_LINE: usize = 4 * 1024;
/// The most response headers read.
const MAX_HEADERS: usize = 64;

/// The parts of one request that vary.
pub struct Head<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub host: &'a str,
    pub tenant: &'a str,
    pub traceparent: &'a str,
}

/// A request the engine will not send: it would not be one HTTP request.
#[derive(Debug, PartialEq, Eq)]
pub struct Unencodable;

/// The request target: visible ASCII, no space (what `http::Uri` takes).
fn valid_target(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// A header value: visible ASCII, space and tab (`HeaderValue::from_str`).
fn valid_value(s: &str) -> bool {
    s.bytes().all(|b| b == b'\t' || (0x20..=0x7e).contains(&b))
}

/// A method token: letters only for the methods the engine sends.
fn valid_method(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphabetic())
}

/// Append the request's bytes to `out`.
pub fn encode(out: &mut Vec<u8>, h: &Head<'_>, body: Option<&[u8]>) -> Result<(), Unencodable> {
    let values_ok = valid_value(h.host) && valid_value(h.tenant) && valid_value(h.traceparent);
    if !(valid_method(h.method) && valid_target(h.path) && values_ok) {
        return Err(Unencodable);
    }
    for part in [
        h.method.as_bytes(),
        b" ",
        h.path.as_bytes(),
        b" HTTP/1.1\r\nhost: ",
        h.host.as_bytes(),
        b"\r\nx-tenant-id: ",
        h.tenant.as_bytes(),
        b"\r\ntraceparent: ",
        h.traceparent.as_bytes(),
    ] {
        out.extend_from_slice(part);
    }
    match body {
        Some(b) => {
            out.extend_from_slice(b"\r\ncontent-type: application/json\r\ncontent-length: ");
            put_decimal(out, b.len());
            out.extend_from_slice(b"\r\n\r\n");
            out.extend_from_slice(b);
        }
        // What hyper sends for a bodiless request of a method that may
        // carry one.
        None if !matches!(h.method, "GET" | "HEAD" | "DELETE" | "OPTIONS") => {
            out.extend_from_slice(b"\r\ncontent-length: 0\r\n\r\n")
        }
        None => out.extend_from_slice(b"\r\n\r\n"),
    }
    Ok(())
}

/// `n` in decimal, without a `String` per request.
fn put_decimal(out: &mut Vec<u8>, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// How a response's body is delimited.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Framing {
    Empty,
    Length(u64),
    Chunked,
    /// Until the server closes the connection.
    ToEof,
}

/// What [`parse_head`] found at the start of the buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Partial,
    Bad,
    Head {
        status: u16,
        /// Bytes the head took.
        len: usize,
        framing: Framing,
        /// The connection cannot carry another request.
        close: bool,
    },
}

fn has_token(value: &[u8], token: &str) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// The status line and framing headers of a response (RFC 9112 §6.3).
pub fn parse_head(buf: &[u8], head_request: bool) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() <= MAX_HEAD => return Parsed::Partial,
        _ => return Parsed::Bad,
    };
    let (Some(status), Some(version)) = (resp.code, resp.version) else {
        return Parsed::Bad;
    };
    let (mut length, mut chunked, mut close, mut keep) = (None, false, version == 0, false);
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok());
            match (n, length) {
                (None, _) => return Parsed::Bad,
                (Some(n), Some(m)) if n != m => return Parsed::Bad,
                (n, _) => length = n,
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = has_token(h.value, "chunked");
        } else if h.name.eq_ignore_ascii_case("connection") {
            close |= has_token(h.value, "close");
            keep |= has_token(h.value, "keep-alive");
        }
    }
    if version == 0 && keep {
        close = false;
    }
    let framing = if head_request || (100..200).contains(&status) || status == 204 || status == 304
    {
        Framing::Empty
    } else if chunked {
        Framing::Chunked
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        Framing::ToEof
    };
    let close = close || framing == Framing::ToEof || status == 101;
    Parsed::Head {
        status,
        len,
        framing,
        close,
    }
}

/// Where a chunked body's reader is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    Size,
    Data(u64),
    DataEnd,
    Trailer,
    Done,
}

/// A body that is not valid chunked coding.
#[derive(Debug, PartialEq, Eq)]
pub struct BadChunk;

/// A chunked body, walked and dropped.
#[derive(Debug)]
pub struct Chunks(ChunkState);

impl Default for Chunks {
    fn default() -> Self {
        Chunks(ChunkState::Size)
    }
}

/// The first CRLF-ended line of `buf`, without its CRLF, and the bytes it
/// took; `Ok(None)` while incomplete.
fn line(buf: &[u8]) -> Result<Option<(&[u8], usize)>, BadChunk> {
    match buf.windows(2).position(|w| w == b"\r\n") {
        Some(i) => Ok(Some((&buf[..i], i + 2))),
        None if buf.len() > MAX_LINE => Err(BadChunk),
        None => Ok(None),
    }
}

fn chunk_size(line: &[u8]) -> Result<u64, BadChunk> {
    let digits = line.split(|&b| b == b';').next().unwrap_or_default();
    let digits = std::str::from_utf8(digits).map_err(|_| BadChunk)?.trim();
    if digits.is_empty() || digits.len() > 15 {
        return Err(BadChunk);
    }
    u64::from_str_radix(digits, 16).map_err(|_| BadChunk)
}

impl Chunks {
    /// Walk `buf`; returns the bytes consumed. Err: not a chunked body.
    pub fn feed(&mut self, buf: &[u8]) -> Result<usize, BadChunk> {
        let mut at = 0;
        loop {
            let rest = &buf[at..];
            match self.0 {
                ChunkState::Done => return Ok(at),
                ChunkState::Size => {
                    let Some((l, n)) = line(rest)? else {
                        return Ok(at);
                    };
                    at += n;
                    self.0 = match chunk_size(l)? {
                        0 => ChunkState::Trailer,
                        size => ChunkState::Data(size),
                    };
                }
                ChunkState::Data(left) => {
                    if rest.is_empty() {
                        return Ok(at);
                    }
                    let take = left.min(rest.len() as u64);
                    at += take as usize;
                    self.0 = match left - take {
                        0 => ChunkState::DataEnd,
                        left => ChunkState::Data(left),
                    };
                }
                ChunkState::DataEnd => {
                    if rest.len() < 2 {
                        return Ok(at);
                    }
                    if &rest[..2] != b"\r\n" {
                        return Err(BadChunk);
                    }
                    at += 2;
                    self.0 = ChunkState::Size;
                }
                ChunkState::Trailer => {
                    let Some((l, n)) = line(rest)? else {
                        return Ok(at);
                    };
                    at += n;
                    if l.is_empty() {
                        self.0 = ChunkState::Done;
                    }
                }
            }
        }
    }

    pub fn done(&self) -> bool {
        self.0 == ChunkState::Done
    }
}

/// How one round trip ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Round {
    /// A response, read to its end; `keep`: the connection can carry the
    /// next request.
    Answer {
        status: u16,
        keep: bool,
    },
    /// The connection ended before any byte of an answer: the server may
    /// never have seen the request (a kept connection it had closed).
    Lost,
    Failed,
}

/// One open connection, with its buffers (reused for every request).
pub struct Http1Conn {
    stream: TcpStream,
    /// Response bytes read and not yet consumed, from `at`.
    buf: Vec<u8>,
    at: usize,
    /// The next request, encoded into it; [`Http1Conn::round`] sends and
    /// empties it.
    pub out: Vec<u8>,
}

enum Read {
    Some,
    Eof,
    Err,
}

impl Http1Conn {
    pub async fn open(addr: SocketAddr) -> std::io::Result<Http1Conn> {
        let stream = TcpStream::connect(addr).await?;
        let _ = stream.set_nodelay(true);
        Ok(Http1Conn {
            stream,
            buf: Vec::with_capacity(16 * 1024),
            at: 0,
            out: Vec::with_capacity(1024),
        })
    }

    /// Read more of the response into the buffer (dropping what was
    /// consumed first).
    async fn fill(&mut self) -> Read {
        if self.at > 0 {
            self.buf.drain(..self.at);
            self.at = 0;
        }
        if self.buf.capacity() - self.buf.len() < 4096 {
            self.buf.reserve(8192);
        }
        match self.stream.read_buf(&mut self.buf).await {
            Ok(0) => Read::Eof,
            Ok(_) => Read::Some,
            Err(_) => Read::Err,
        }
    }

    /// Send `out` and read one whole response (after any 1xx ones).
    pub async fn round(&mut self, head_request: bool) -> Round {
        let written = self.stream.write_all(&self.out).await;
        self.out.clear();
        if written.is_err() {
            return Round::Lost;
        }
        let mut got_any = false;
        loop {
            let (status, framing, close) = loop {
                match parse_head(&self.buf[self.at..], head_request) {
                    Parsed::Head {
                        status,
                        len,
                        framing,
                        close,
                    } => {
                        self.at += len;
                        break (status, framing, close);
                    }
                    Parsed::Bad => return Round::Failed,
                    Parsed::Partial => {
                        got_any |= self.buf.len() > self.at;
                        match self.fill().await {
                            Read::Some => {}
                            _ if !got_any && self.buf.len() == self.at => return Round::Lost,
                            _ => return Round::Failed,
                        }
                    }
                }
            };
            got_any = true;
            if (100..200).contains(&status) && status != 101 {
                continue;
            }
            if !self.body(framing).await {
                return Round::Failed;
            }
            // Bytes nobody asked for mean the framing is off: start over.
            let keep = !close && self.at == self.buf.len();
            self.buf.clear();
            self.at = 0;
            return Round::Answer { status, keep };
        }
    }

    /// Read the body to its end; false: the connection failed first.
    async fn body(&mut self, framing: Framing) -> bool {
        match framing {
            Framing::Empty => true,
            Framing::Length(mut left) => loop {
                let take = left.min((self.buf.len() - self.at) as u64);
                self.at += take as usize;
                left -= take;
                if left == 0 {
                    return true;
                }
                if !matches!(self.fill().await, Read::Some) {
                    return false;
                }
            },
            Framing::Chunked => {
                let mut chunks = Chunks::default();
                loop {
                    match chunks.feed(&self.buf[self.at..]) {
                        Ok(n) => self.at += n,
                        Err(BadChunk) => return false,
                    }
                    if chunks.done() {
                        return true;
                    }
                    if !matches!(self.fill().await, Read::Some) {
                        return false;
                    }
                }
            }
            Framing::ToEof => loop {
                self.at = self.buf.len();
                match self.fill().await {
                    Read::Some => {}
                    Read::Eof => return true,
                    Read::Err => return false,
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head<'a>(method: &'a str, path: &'a str) -> Head<'a> {
        Head {
            method,
            path,
            host: "127.0.0.1:8080",
            tenant: "tenant_001",
            traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        }
    }

    #[test]
    fn encodes_what_hyper_sent_and_refuses_what_would_break_the_framing() {
        let mut out = Vec::new();
        encode(&mut out, &head("POST", "/api/x?a=1"), Some(b"{}")).unwrap();
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "POST /api/x?a=1 HTTP/1.1\r\nhost: 127.0.0.1:8080\r\nx-tenant-id: tenant_001\r\n\
             traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\
             content-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
        );
        out.clear();
        encode(&mut out, &head("GET", "/health"), None).unwrap();
        assert!(out.ends_with(b"-01\r\n\r\n"), "no length on a GET");
        out.clear();
        encode(&mut out, &head("PUT", "/x"), None).unwrap();
        assert!(out.ends_with(b"content-length: 0\r\n\r\n"));
        for (m, p, t) in [
            ("GET", "/a b", "t"),
            ("GET", "/a\r\nx: y", "t"),
            ("GET", "", "t"),
            ("GET", "/é", "t"),
            ("GET", "/", "t\r\nx-evil: 1"),
            ("GE T", "/", "t"),
        ] {
            let mut h = head(m, p);
            h.tenant = t;
            assert_eq!(
                encode(&mut Vec::new(), &h, None),
                Err(Unencodable),
                "{m} {p:?} {t:?}"
            );
        }
    }

    fn parsed(s: &str) -> Parsed {
        parse_head(s.as_bytes(), false)
    }

    #[test]
    fn the_head_gives_status_framing_and_whether_the_connection_stays() {
        let h = "HTTP/1.1 200 OK\r\ncontent-length: 5\r\ndate: x\r\n\r\nhello";
        assert_eq!(
            parsed(h),
            Parsed::Head {
                status: 200,
                len: h.len() - 5,
                framing: Framing::Length(5),
                close: false
            }
        );
        let framing_close = |s: &str| match parsed(s) {
            Parsed::Head { framing, close, .. } => (framing, close),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            framing_close("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            (Framing::Chunked, false)
        );
        assert_eq!(
            framing_close("HTTP/1.1 503 x\r\nConnection: Close\r\nContent-Length: 0\r\n\r\n"),
            (Framing::Length(0), true)
        );
        assert_eq!(
            framing_close("HTTP/1.1 200 OK\r\n\r\n"),
            (Framing::ToEof, true)
        );
        assert_eq!(
            framing_close("HTTP/1.1 204 No Content\r\n\r\n"),
            (Framing::Empty, false)
        );
        assert_eq!(
            framing_close("HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\n"),
            (Framing::Length(1), true)
        );
        assert_eq!(
            framing_close("HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 1\r\n\r\n"),
            (Framing::Length(1), false)
        );
        assert_eq!(
            parse_head(b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n", true),
            Parsed::Head {
                status: 200,
                len: 38,
                framing: Framing::Empty,
                close: false
            }
        );
        assert_eq!(parsed("HTTP/1.1 200 OK\r\ncontent-le"), Parsed::Partial);
        assert_eq!(parsed("garbage\r\n\r\n"), Parsed::Bad);
        assert_eq!(
            parsed("HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n"),
            Parsed::Bad
        );
        assert_eq!(
            parsed("HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n"),
            Parsed::Bad
        );
        let huge = format!("HTTP/1.1 200 OK\r\nx: {}", "a".repeat(MAX_HEAD));
        assert_eq!(parsed(&huge), Parsed::Bad);
    }

    #[test]
    fn a_chunked_body_is_walked_in_any_split() {
        let body = b"5;ext=1\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nx-trailer: 1\r\n\r\nNEXT";
        let end = body.len() - 4;
        // Fed whole, and fed a byte at a time (with the unconsumed rest
        // carried over, as the connection's buffer does).
        let mut c = Chunks::default();
        assert_eq!(c.feed(body), Ok(end));
        assert!(c.done());
        let mut c = Chunks::default();
        let (mut pending, mut used) = (Vec::new(), 0);
        for &b in body.iter() {
            pending.push(b);
            let n = c.feed(&pending).unwrap();
            used += n;
            pending.drain(..n);
            if c.done() {
                break;
            }
        }
        assert_eq!(used, end);
        for bad in [&b"zz\r\n"[..], b"5\r\nhelloXX", b"fffffffffffffffff\r\n"] {
            assert!(Chunks::default().feed(bad).is_err(), "{bad:?}");
        }
        assert!(Chunks::default().feed(&[b'1'; MAX_LINE + 1]).is_err());
    }

    /// A server that answers each request with the given bytes.
    async fn serve(answers: Vec<&'static [u8]>) -> SocketAddr {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            for a in answers {
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = s.read(&mut buf).await.unwrap();
                    got.extend_from_slice(&buf[..n]);
                }
                // In pieces, to exercise the partial reads.
                for piece in a.chunks(7) {
                    s.write_all(piece).await.unwrap();
                    s.flush().await.unwrap();
                    tokio::task::yield_now().await;
                }
            }
        });
        addr
    }

    #[tokio::test]
    async fn round_trips_read_each_framing_to_its_end_on_one_connection() {
        let addr = serve(vec![
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 3\r\n\r\nabc",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\n\r\n",
            b"HTTP/1.1 500 Oops\r\ncontent-length: 4\r\nconnection: close\r\n\r\nfail",
        ])
        .await;
        let mut c = Http1Conn::open(addr).await.unwrap();
        let mut answers = Vec::new();
        for _ in 0..4 {
            encode(&mut c.out, &head("POST", "/"), Some(b"{}")).unwrap();
            answers.push(c.round(false).await);
        }
        let a = |status, keep| Round::Answer { status, keep };
        assert_eq!(
            answers,
            [a(201, true), a(200, true), a(204, true), a(500, false)]
        );
        // The server is gone: nothing comes back, and that is "lost".
        encode(&mut c.out, &head("GET", "/"), None).unwrap();
        assert_eq!(c.round(false).await, Round::Lost);
    }

    /// One GET on a new connection to a server that gives `answer`.
    async fn get_once(answer: &'static [u8]) -> Round {
        let mut c = Http1Conn::open(serve(vec![answer]).await).await.unwrap();
        encode(&mut c.out, &head("GET", "/"), None).unwrap();
        c.round(false).await
    }

    #[tokio::test]
    async fn a_body_cut_short_or_a_garbled_head_fails_the_round() {
        for answer in [
            &b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort"[..],
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nab",
            b"not http at all\r\n\r\n",
            b"HTTP/1.1 200 O",
        ] {
            assert_eq!(get_once(answer).await, Round::Failed, "{answer:?}");
        }
        // Read until the server closes: an answer, not to be kept.
        assert_eq!(
            get_once(b"HTTP/1.1 200 OK\r\n\r\nto the end").await,
            Round::Answer {
                status: 200,
                keep: false
            }
        );
    }
}
