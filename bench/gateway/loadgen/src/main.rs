//! Load generator for the cipherpost gateway, and for an MQTT broker driven the same way.
//!
//! Modes (all bounded in time and count; the process exits by itself):
//!
//! * `gateway`: register `--clients` devices, pair client i with client i^1, and let every
//!   client keep `--inflight` SENDs of `--size`-byte envelopes outstanding for `--seconds`.
//!   Receivers acknowledge each DELIVER, so the sender gets ✓✓. Reports ✓, delivery and ✓✓
//!   rates and latencies.
//! * `mqtt`: the same pattern against an MQTT 3.1.1 broker with QoS 1: each client subscribes
//!   to its own topic and publishes to its peer's. PUBACK plays the part of ✓.
//! * `idle`: register `--clients` devices and disconnect, wait for a line on stdin (the caller
//!   restarts the gateway and measures its memory), connect them all again with HELLO, print
//!   READY, hold them for `--seconds`, and exit.
//! * `drain`: queue `--clients` envelopes for an offline device, reconnect it and time HELLO to
//!   DRAINED while it acknowledges each DELIVER; `--seconds` rounds.
//!
//! The window of in-flight messages per client is released by ✓ (or PUBACK).

use std::collections::HashMap;
use std::env;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use hdrhistogram::Histogram;
use rand::RngCore;
use snow::{Builder, TransportState};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Barrier, Semaphore};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Result<T> = std::result::Result<T, BoxError>;

const NOISE_PARAMS: &str = "Noise_XX_25519_ChaChaPoly_SHA256";
const MAX_RECORD_PLAINTEXT: usize = 65535 - 16;
const HEADER_SIZE: usize = 32;
// Concurrent connection setups, so that 10,000 registrations do not all hit the gateway's
// listen backlog at once.
const SETUP_CONCURRENCY: usize = 200;
// Seconds after the measured window in which clients keep reading to collect late ✓✓.
const GRACE_SECONDS: u64 = 3;
// Hard cap on any run, in seconds.
const MAX_SECONDS: u64 = 600;

// Frame kinds (docs/protocol.md).
const HELLO: u8 = 0x01;
const REGISTER: u8 = 0x02;
const SEND: u8 = 0x20;
const ACK: u8 = 0x21;
const RESULT: u8 = 0x80;
const ERROR: u8 = 0x81;
const DELIVER: u8 = 0x82;
const STATUS: u8 = 0x83;
const SENT: u8 = 0x84;
const STATUS_DELIVERED: u8 = 2;

#[derive(Clone)]
struct Args {
    mode: String,
    host: String,
    port: u16,
    clients: usize,
    inflight: usize,
    size: usize,
    seconds: u64,
    warmup: u64,
    prefix: String,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        mode: String::new(),
        host: "127.0.0.1".into(),
        port: 0,
        clients: 100,
        inflight: 8,
        size: 256,
        seconds: 10,
        warmup: 2,
        prefix: format!("bench{}", std::process::id()),
    };
    let mut iter = env::args().skip(1);
    args.mode = iter.next().ok_or("usage: loadgen gateway|mqtt|idle|drain --port N [options]")?;
    while let Some(flag) = iter.next() {
        let value = iter.next().ok_or_else(|| format!("option {flag} needs a value"))?;
        match flag.as_str() {
            "--host" => args.host = value,
            "--port" => args.port = value.parse()?,
            "--clients" => args.clients = value.parse()?,
            "--inflight" => args.inflight = value.parse()?,
            "--size" => args.size = value.parse()?,
            "--seconds" => args.seconds = value.parse()?,
            "--warmup" => args.warmup = value.parse()?,
            "--prefix" => args.prefix = value,
            _ => return Err(format!("unknown option {flag}").into()),
        }
    }
    if args.mode != "drain" && (args.clients < 2 || args.clients % 2 != 0) {
        return Err("--clients must be an even number of at least 2".into());
    }
    if args.size < 16 || args.seconds + args.warmup > MAX_SECONDS {
        return Err("--size must be at least 16 and the run at most 600 seconds".into());
    }
    Ok(args)
}

// --- statistics -----------------------------------------------------------------------------

struct Stats {
    sent: Histogram<u64>,      // send → ✓ (or PUBACK), microseconds
    delivered: Histogram<u64>, // send → DELIVER at the peer
    acked: Histogram<u64>,     // send → ✓✓ at the sender
}

impl Stats {
    fn new() -> Result<Self> {
        Ok(Self {
            sent: Histogram::new_with_bounds(1, 60_000_000, 3)?,
            delivered: Histogram::new_with_bounds(1, 60_000_000, 3)?,
            acked: Histogram::new_with_bounds(1, 60_000_000, 3)?,
        })
    }

    fn merge(&mut self, other: &Stats) -> Result<()> {
        self.sent.add(&other.sent)?;
        self.delivered.add(&other.delivered)?;
        self.acked.add(&other.acked)?;
        Ok(())
    }
}

struct Clock {
    start: Instant,
    measure_from: Duration,
    measure_until: Duration,
}

impl Clock {
    fn now_us(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }
    fn measuring(&self, sent_us: u64) -> bool {
        let sent = Duration::from_micros(sent_us);
        sent >= self.measure_from && sent < self.measure_until
    }
    fn sending(&self) -> bool {
        self.start.elapsed() < self.measure_until
    }
    fn done(&self) -> bool {
        self.start.elapsed() > self.measure_until + Duration::from_secs(GRACE_SECONDS)
    }
}

// --- Noise and frames -----------------------------------------------------------------------

struct Noise {
    stream: TcpStream,
    transport: TransportState,
    inbox: Vec<u8>,     // received bytes not yet decrypted
    plaintext: Vec<u8>, // decrypted bytes not yet split into frames
    outbox: Vec<u8>,    // frames queued for the next flush
    scratch: Vec<u8>,
}

struct Frame {
    kind: u8,
    flags: u8,
    seq: u64,
    message_id: [u8; 16],
    body: Vec<u8>,
}

async fn read_record(stream: &mut TcpStream) -> Result<Vec<u8>> {
    let mut prefix = [0u8; 2];
    stream.read_exact(&mut prefix).await?;
    let mut message = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
    stream.read_exact(&mut message).await?;
    Ok(message)
}

async fn write_record(stream: &mut TcpStream, message: &[u8]) -> Result<()> {
    let mut record = (message.len() as u16).to_be_bytes().to_vec();
    record.extend_from_slice(message);
    stream.write_all(&record).await?;
    Ok(())
}

impl Noise {
    async fn connect(host: &str, port: u16, private: &[u8]) -> Result<Noise> {
        let mut stream = TcpStream::connect((host, port)).await?;
        stream.set_nodelay(true)?;
        let mut handshake =
            Builder::new(NOISE_PARAMS.parse()?).local_private_key(private).build_initiator()?;
        let mut buffer = vec![0u8; 65535];
        let length = handshake.write_message(&[], &mut buffer)?;
        write_record(&mut stream, &buffer[..length]).await?;
        let reply = read_record(&mut stream).await?;
        handshake.read_message(&reply, &mut buffer)?;
        let length = handshake.write_message(&[], &mut buffer)?;
        write_record(&mut stream, &buffer[..length]).await?;
        Ok(Noise {
            stream,
            transport: handshake.into_transport_mode()?,
            inbox: Vec::new(),
            plaintext: Vec::new(),
            outbox: Vec::new(),
            scratch: vec![0u8; 65535],
        })
    }

    fn queue(&mut self, kind: u8, flags: u8, seq: u64, message_id: &[u8; 16], body: &[u8]) {
        let length = (HEADER_SIZE - 4 + body.len()) as u32;
        self.outbox.extend_from_slice(&length.to_be_bytes());
        self.outbox.extend_from_slice(&[kind, flags, 0, 0]);
        self.outbox.extend_from_slice(&seq.to_be_bytes());
        self.outbox.extend_from_slice(message_id);
        self.outbox.extend_from_slice(body);
    }

    async fn flush(&mut self) -> Result<()> {
        if self.outbox.is_empty() {
            return Ok(());
        }
        let mut sealed = Vec::with_capacity(self.outbox.len() + 64);
        for chunk in self.outbox.chunks(MAX_RECORD_PLAINTEXT) {
            let length = self.transport.write_message(chunk, &mut self.scratch)?;
            sealed.extend_from_slice(&(length as u16).to_be_bytes());
            sealed.extend_from_slice(&self.scratch[..length]);
        }
        self.outbox.clear();
        self.stream.write_all(&sealed).await?;
        Ok(())
    }

    /// Read once from the socket (waiting at most `timeout`) and return the complete frames.
    async fn receive(&mut self, timeout: Duration) -> Result<Vec<Frame>> {
        let mut buffer = [0u8; 65536];
        let read = match tokio::time::timeout(timeout, self.stream.read(&mut buffer)).await {
            Err(_) => return Ok(Vec::new()),
            Ok(result) => result?,
        };
        if read == 0 {
            return Err("gateway closed the connection".into());
        }
        self.inbox.extend_from_slice(&buffer[..read]);
        let mut offset = 0;
        while self.inbox.len() - offset >= 2 {
            let length = usize::from(u16::from_be_bytes([self.inbox[offset], self.inbox[offset + 1]]));
            if self.inbox.len() - offset - 2 < length {
                break;
            }
            let opened = self
                .transport
                .read_message(&self.inbox[offset + 2..offset + 2 + length], &mut self.scratch)?;
            self.plaintext.extend_from_slice(&self.scratch[..opened]);
            offset += 2 + length;
        }
        self.inbox.drain(..offset);
        let mut frames = Vec::new();
        let mut offset = 0;
        while self.plaintext.len() - offset >= HEADER_SIZE {
            let data = &self.plaintext[offset..];
            let length = u32::from_be_bytes([data[0], data[1], data[2], data[3]]) as usize + 4;
            if data.len() < length {
                break;
            }
            let mut message_id = [0u8; 16];
            message_id.copy_from_slice(&data[16..32]);
            let mut seq = [0u8; 8];
            seq.copy_from_slice(&data[8..16]);
            frames.push(Frame {
                kind: data[4],
                flags: data[5],
                seq: u64::from_be_bytes(seq),
                message_id,
                body: data[HEADER_SIZE..length].to_vec(),
            });
            offset += length;
        }
        self.plaintext.drain(..offset);
        Ok(frames)
    }

    async fn request(&mut self, kind: u8, body: &[u8]) -> Result<Frame> {
        self.queue(kind, 0, 1, &[0u8; 16], body);
        self.flush().await?;
        loop {
            for frame in self.receive(Duration::from_secs(30)).await? {
                if frame.kind == RESULT && frame.seq == 1 {
                    return Ok(frame);
                }
                if frame.kind == ERROR {
                    return Err(format!("gateway error: {}", String::from_utf8_lossy(&frame.body)).into());
                }
            }
        }
    }
}

fn register_body(user: &str) -> Vec<u8> {
    let mut identity = [0u8; 33];
    identity[0] = 0x05;
    rand::thread_rng().fill_bytes(&mut identity[1..]);
    let key = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(identity);
    format!(r#"{{"user":"{user}","registration_id":1234,"identity_key":"{key}"}}"#).into_bytes()
}

fn new_private_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut key);
    key
}

fn send_body(recipient: &str, payload: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(payload.len() + 32);
    body.push(recipient.len() as u8);
    body.extend_from_slice(recipient.as_bytes());
    body.extend_from_slice(&0u64.to_be_bytes());
    body.push(1);
    body.extend_from_slice(&1u16.to_be_bytes());
    body.push(2);
    body.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    body.extend_from_slice(payload);
    body
}

/// Read the send time from the first 8 bytes of a DELIVER's payload, which follows the
/// sender id, device, type and timestamp.
fn deliver_payload_time(body: &[u8]) -> Option<u64> {
    let start = 1 + usize::from(*body.first()?) + 2 + 1 + 8;
    let bytes: [u8; 8] = body.get(start..start + 8)?.try_into().ok()?;
    Some(u64::from_be_bytes(bytes))
}

// --- gateway mode ---------------------------------------------------------------------------

async fn gateway_client(
    args: Arc<Args>,
    index: usize,
    setup: Arc<Semaphore>,
    start: Arc<StartLine>,
) -> Result<(Stats, u64, u64, u64)> {
    let user = format!("{}-{index}", args.prefix);
    let peer = format!("{}-{}", args.prefix, index ^ 1);
    let mut noise = {
        let _permit = setup.acquire().await?;
        let mut noise = Noise::connect(&args.host, args.port, &new_private_key()).await?;
        noise.request(REGISTER, &register_body(&user)).await?;
        noise
    };
    let clock = start.wait().await?;

    let mut stats = Stats::new()?;
    let mut payload = vec![0u8; args.size];
    let mut pending: HashMap<u64, u64> = HashMap::new(); // request id → send time
    let mut sent_at: HashMap<[u8; 16], u64> = HashMap::new(); // message id → send time
    let (mut next_id, mut counted_sent, mut counted_delivered, mut counted_acked) = (1u64, 0, 0, 0);
    let mut send_one = |noise: &mut Noise, pending: &mut HashMap<u64, u64>,
                        sent_at: &mut HashMap<[u8; 16], u64>, next_id: &mut u64| {
        let now = clock.now_us();
        payload[..8].copy_from_slice(&now.to_be_bytes());
        let mut message_id = [0u8; 16];
        message_id[..8].copy_from_slice(&(index as u64).to_be_bytes());
        message_id[8..].copy_from_slice(&next_id.to_be_bytes());
        noise.queue(SEND, 0, *next_id, &message_id, &send_body(&peer, &payload));
        pending.insert(*next_id, now);
        sent_at.insert(message_id, now);
        *next_id += 1;
    };
    for _ in 0..args.inflight {
        send_one(&mut noise, &mut pending, &mut sent_at, &mut next_id);
    }
    noise.flush().await?;

    while !clock.done() {
        let frames = noise.receive(Duration::from_millis(200)).await?;
        for frame in frames {
            match frame.kind {
                SENT => {
                    if let Some(start) = pending.remove(&frame.seq) {
                        if clock.measuring(start) {
                            stats.sent.record(clock.now_us() - start + 1)?;
                            counted_sent += 1;
                        }
                    }
                    if clock.sending() {
                        send_one(&mut noise, &mut pending, &mut sent_at, &mut next_id);
                    }
                }
                DELIVER => {
                    if let Some(start) = deliver_payload_time(&frame.body) {
                        if clock.measuring(start) {
                            stats.delivered.record(clock.now_us().saturating_sub(start) + 1)?;
                            counted_delivered += 1;
                        }
                    }
                    noise.queue(ACK, 0, frame.seq, &[0u8; 16], &[]);
                }
                STATUS => {
                    if frame.flags == STATUS_DELIVERED {
                        if let Some(start) = sent_at.remove(&frame.message_id) {
                            if clock.measuring(start) {
                                stats.acked.record(clock.now_us() - start + 1)?;
                                counted_acked += 1;
                            }
                        }
                    }
                    noise.queue(ACK, 0, frame.seq, &[0u8; 16], &[]);
                }
                ERROR => return Err(format!("gateway error: {}", String::from_utf8_lossy(&frame.body)).into()),
                _ => {}
            }
        }
        noise.flush().await?;
    }
    Ok((stats, counted_sent, counted_delivered, counted_acked))
}

// --- MQTT mode ------------------------------------------------------------------------------

fn mqtt_packet(first: u8, body: &[u8]) -> Vec<u8> {
    let mut packet = vec![first];
    let mut length = body.len();
    loop {
        let mut byte = (length % 128) as u8;
        length /= 128;
        if length > 0 {
            byte |= 0x80;
        }
        packet.push(byte);
        if length == 0 {
            break;
        }
    }
    packet.extend_from_slice(body);
    packet
}

fn mqtt_string(text: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(&(text.len() as u16).to_be_bytes());
    out.extend_from_slice(text.as_bytes());
}

/// Split complete MQTT packets off `buffer`: (first byte, body).
fn mqtt_split(buffer: &mut Vec<u8>) -> Vec<(u8, Vec<u8>)> {
    let mut packets = Vec::new();
    let mut offset = 0;
    'outer: while buffer.len() > offset + 1 {
        let mut length = 0usize;
        let mut multiplier = 1usize;
        let mut position = offset + 1;
        loop {
            let Some(&byte) = buffer.get(position) else { break 'outer };
            length += usize::from(byte & 0x7F) * multiplier;
            multiplier *= 128;
            position += 1;
            if byte & 0x80 == 0 {
                break;
            }
        }
        if buffer.len() < position + length {
            break;
        }
        packets.push((buffer[offset], buffer[position..position + length].to_vec()));
        offset = position + length;
    }
    buffer.drain(..offset);
    packets
}

async fn mqtt_client(
    args: Arc<Args>,
    index: usize,
    setup: Arc<Semaphore>,
    start: Arc<StartLine>,
) -> Result<(Stats, u64, u64, u64)> {
    let topic = format!("{}/{index}", args.prefix);
    let peer_topic = format!("{}/{}", args.prefix, index ^ 1);
    let mut stream = {
        let _permit = setup.acquire().await?;
        let mut stream = TcpStream::connect((args.host.as_str(), args.port)).await?;
        stream.set_nodelay(true)?;
        let mut connect = Vec::new();
        mqtt_string("MQTT", &mut connect);
        connect.extend_from_slice(&[4, 0x02, 0, 60]);
        mqtt_string(&format!("{}-{index}", args.prefix), &mut connect);
        stream.write_all(&mqtt_packet(0x10, &connect)).await?;
        let mut subscribe = 1u16.to_be_bytes().to_vec();
        mqtt_string(&topic, &mut subscribe);
        subscribe.push(1);
        stream.write_all(&mqtt_packet(0x82, &subscribe)).await?;
        let mut buffer = Vec::new();
        let mut chunk = [0u8; 4096];
        let mut subscribed = false;
        while !subscribed {
            let read = stream.read(&mut chunk).await?;
            if read == 0 {
                return Err("broker closed the connection during setup".into());
            }
            buffer.extend_from_slice(&chunk[..read]);
            subscribed = mqtt_split(&mut buffer).iter().any(|(first, _)| first >> 4 == 9);
        }
        stream
    };
    let clock = start.wait().await?;

    let mut stats = Stats::new()?;
    let mut payload = vec![0u8; args.size];
    let mut pending: HashMap<u16, u64> = HashMap::new();
    let mut next_id: u16 = 1;
    let (mut counted_sent, mut counted_delivered) = (0, 0);
    let mut outbox = Vec::new();
    let mut publish = |outbox: &mut Vec<u8>, pending: &mut HashMap<u16, u64>, next_id: &mut u16| {
        let now = clock.now_us();
        payload[..8].copy_from_slice(&now.to_be_bytes());
        let mut body = Vec::with_capacity(payload.len() + 40);
        mqtt_string(&peer_topic, &mut body);
        body.extend_from_slice(&next_id.to_be_bytes());
        body.extend_from_slice(&payload);
        outbox.extend_from_slice(&mqtt_packet(0x32, &body));
        pending.insert(*next_id, now);
        *next_id = if *next_id == u16::MAX { 1 } else { *next_id + 1 };
    };
    for _ in 0..args.inflight {
        publish(&mut outbox, &mut pending, &mut next_id);
    }
    stream.write_all(&outbox).await?;
    outbox.clear();

    let mut buffer = Vec::new();
    let mut chunk = vec![0u8; 65536];
    while !clock.done() {
        let read = match tokio::time::timeout(Duration::from_millis(200), stream.read(&mut chunk)).await {
            Err(_) => 0,
            Ok(result) => {
                let read = result?;
                if read == 0 {
                    return Err("broker closed the connection".into());
                }
                read
            }
        };
        buffer.extend_from_slice(&chunk[..read]);
        for (first, body) in mqtt_split(&mut buffer) {
            match first >> 4 {
                4 => {
                    // PUBACK for one of our publishes.
                    let id = u16::from_be_bytes([body[0], body[1]]);
                    if let Some(start) = pending.remove(&id) {
                        if clock.measuring(start) {
                            stats.sent.record(clock.now_us() - start + 1)?;
                            counted_sent += 1;
                        }
                    }
                    if clock.sending() {
                        publish(&mut outbox, &mut pending, &mut next_id);
                    }
                }
                3 => {
                    // PUBLISH from the broker: topic, packet id (QoS 1), payload.
                    let topic_length = usize::from(u16::from_be_bytes([body[0], body[1]]));
                    let id_at = 2 + topic_length;
                    let id = [body[id_at], body[id_at + 1]];
                    let payload_at = id_at + 2;
                    if let Some(bytes) = body.get(payload_at..payload_at + 8) {
                        let start = u64::from_be_bytes(bytes.try_into()?);
                        if clock.measuring(start) {
                            stats.delivered.record(clock.now_us().saturating_sub(start) + 1)?;
                            counted_delivered += 1;
                        }
                    }
                    outbox.extend_from_slice(&mqtt_packet(0x40, &id));
                }
                _ => {}
            }
        }
        if !outbox.is_empty() {
            stream.write_all(&outbox).await?;
            outbox.clear();
        }
    }
    Ok((stats, counted_sent, counted_delivered, 0))
}

// --- idle mode ------------------------------------------------------------------------------

async fn idle(args: Arc<Args>) -> Result<()> {
    let setup = Arc::new(Semaphore::new(SETUP_CONCURRENCY));
    let mut keys = Vec::new();
    let mut tasks = Vec::new();
    for index in 0..args.clients {
        let key = new_private_key();
        keys.push(key);
        let (args, setup) = (args.clone(), setup.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = setup.acquire().await?;
            let mut noise = Noise::connect(&args.host, args.port, &key).await?;
            noise.request(REGISTER, &register_body(&format!("{}-{index}", args.prefix))).await?;
            Ok::<(), BoxError>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    println!("REGISTERED {}", args.clients);
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;

    let started = Instant::now();
    let mut tasks = Vec::new();
    for key in keys {
        let (args, setup) = (args.clone(), setup.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = setup.acquire().await?;
            let mut noise = Noise::connect(&args.host, args.port, &key).await?;
            noise.request(HELLO, &[]).await?;
            Ok::<Noise, BoxError>(noise)
        }));
    }
    let mut connections = Vec::new();
    for task in tasks {
        connections.push(task.await??);
    }
    println!("READY {} connections in {:.1} s", connections.len(), started.elapsed().as_secs_f64());
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    drop(connections);
    Ok(())
}

// --- drain mode -----------------------------------------------------------------------------

const DRAINED: u8 = 0x87;
const DELIVER_BATCH: u8 = 0x89;
// DELIVER_BATCH entry header: kind, flags, seq, message id, body length.
const BATCH_ENTRY_HEADER: usize = 1 + 1 + 8 + 16 + 4;

/// Return the (kind, seq) of every entry of a DELIVER_BATCH body.
fn batch_entries(body: &[u8]) -> Vec<(u8, u64)> {
    let mut entries = Vec::new();
    let mut offset = 0;
    while body.len() - offset >= BATCH_ENTRY_HEADER {
        let header = &body[offset..offset + BATCH_ENTRY_HEADER];
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&header[2..10]);
        let mut length = [0u8; 4];
        length.copy_from_slice(&header[26..30]);
        entries.push((header[0], u64::from_be_bytes(seq)));
        offset += BATCH_ENTRY_HEADER + u32::from_be_bytes(length) as usize;
        if offset > body.len() {
            break;
        }
    }
    entries
}

/// Queue `--inflight`-windowed sends for an offline device, then time its reconnect from
/// HELLO to DRAINED while it acknowledges every DELIVER. Repeats `--seconds` rounds.
async fn drain(args: Arc<Args>) -> Result<()> {
    let sender_user = format!("{}-sender", args.prefix);
    let receiver_user = format!("{}-receiver", args.prefix);
    let mut sender = Noise::connect(&args.host, args.port, &new_private_key()).await?;
    sender.request(REGISTER, &register_body(&sender_user)).await?;
    let receiver_key = new_private_key();
    let mut receiver = Noise::connect(&args.host, args.port, &receiver_key).await?;
    receiver.request(REGISTER, &register_body(&receiver_user)).await?;
    drop(receiver);
    let payload = vec![7u8; args.size];
    let body = send_body(&receiver_user, &payload);
    let count = args.clients as u64;
    for round in 0..args.seconds {
        let (mut next, mut stored) = (0u64, 0u64);
        while stored < count {
            while next < count && next - stored < args.inflight as u64 {
                next += 1;
                let mut message_id = [0u8; 16];
                message_id[..8].copy_from_slice(&round.to_be_bytes());
                message_id[8..].copy_from_slice(&next.to_be_bytes());
                sender.queue(SEND, 0, next, &message_id, &body);
            }
            sender.flush().await?;
            for frame in sender.receive(Duration::from_secs(30)).await? {
                if frame.kind == SENT {
                    stored += 1;
                }
            }
        }
        let mut receiver = Noise::connect(&args.host, args.port, &receiver_key).await?;
        let started = Instant::now();
        receiver.queue(HELLO, 0, 1, &[0u8; 16], &[]);
        receiver.flush().await?;
        let mut delivered = 0u64;
        let mut drained = false;
        while !drained {
            for frame in receiver.receive(Duration::from_secs(30)).await? {
                match frame.kind {
                    DELIVER => {
                        delivered += 1;
                        receiver.queue(ACK, 0, frame.seq, &[0u8; 16], &[]);
                    }
                    DELIVER_BATCH => {
                        for (kind, seq) in batch_entries(&frame.body) {
                            if kind == DELIVER {
                                delivered += 1;
                            }
                            receiver.queue(ACK, 0, seq, &[0u8; 16], &[]);
                        }
                    }
                    DRAINED => drained = true,
                    _ => {}
                }
            }
            receiver.flush().await?;
        }
        let elapsed = started.elapsed();
        println!(
            "round {round}: drained {delivered} queued messages in {:.1} ms (HELLO to DRAINED)",
            elapsed.as_secs_f64() * 1000.0
        );
        // Let the acknowledgements reach the store before the next round.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}

// --- main -----------------------------------------------------------------------------------

fn cpu_seconds() -> f64 {
    // utime + stime of this process from /proc/self/stat (fields 14 and 15, in clock ticks).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

/// Starts every client at once: all wait at `ready` after their setup, the coordinator
/// sets the clock, and all read it after `go`.
struct StartLine {
    ready: Barrier,
    go: Barrier,
    clock: tokio::sync::OnceCell<Arc<Clock>>,
}

impl StartLine {
    async fn wait(&self) -> Result<Arc<Clock>> {
        self.ready.wait().await;
        self.go.wait().await;
        Ok(self.clock.get().ok_or("clock was not set")?.clone())
    }
}

async fn run_load(args: Arc<Args>) -> Result<()> {
    let setup = Arc::new(Semaphore::new(SETUP_CONCURRENCY));
    let start = Arc::new(StartLine {
        ready: Barrier::new(args.clients + 1),
        go: Barrier::new(args.clients + 1),
        clock: tokio::sync::OnceCell::new(),
    });
    let mut tasks = Vec::new();
    for index in 0..args.clients {
        let (args, setup, start) = (args.clone(), setup.clone(), start.clone());
        tasks.push(tokio::spawn(async move {
            if args.mode == "mqtt" {
                mqtt_client(args, index, setup, start).await
            } else {
                gateway_client(args, index, setup, start).await
            }
        }));
    }
    start.ready.wait().await;
    let cpu_before = cpu_seconds();
    let clock = Arc::new(Clock {
        start: Instant::now(),
        measure_from: Duration::from_secs(args.warmup),
        measure_until: Duration::from_secs(args.warmup + args.seconds),
    });
    start.clock.set(clock).map_err(|_| "clock set twice")?;
    // The caller times the server's CPU use in the measured window from this line.
    println!("START warmup={} seconds={}", args.warmup, args.seconds);
    std::io::Write::flush(&mut std::io::stdout())?;
    start.go.wait().await;

    let mut total = Stats::new()?;
    let (mut sent, mut delivered, mut acked) = (0u64, 0u64, 0u64);
    for task in tasks {
        let (stats, s, d, a) = task.await??;
        total.merge(&stats)?;
        sent += s;
        delivered += d;
        acked += a;
    }
    let seconds = args.seconds as f64;
    let cpu = cpu_seconds() - cpu_before;
    let wall = seconds + args.warmup as f64 + GRACE_SECONDS as f64;
    println!(
        "mode={} clients={} inflight={} size={} seconds={}",
        args.mode, args.clients, args.inflight, args.size, args.seconds
    );
    let show = |name: &str, count: u64, histogram: &Histogram<u64>| {
        if count > 0 {
            println!(
                "{name:<10} {:>10.0} msg/s  p50 {:>8.2} ms  p99 {:>8.2} ms",
                count as f64 / seconds,
                histogram.value_at_quantile(0.5) as f64 / 1000.0,
                histogram.value_at_quantile(0.99) as f64 / 1000.0
            );
        }
    };
    show("sent", sent, &total.sent);
    show("delivered", delivered, &total.delivered);
    show("acked", acked, &total.acked);
    println!(
        "loadgen_cpu {:.1} s over {:.1} s wall ({:.0} % of one core)",
        cpu,
        wall,
        100.0 * cpu / wall
    );
    Ok(())
}

fn main() -> Result<()> {
    let args = Arc::new(parse_args()?);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    match args.mode.as_str() {
        "gateway" | "mqtt" => runtime.block_on(run_load(args)),
        "idle" => runtime.block_on(idle(args)),
        "drain" => runtime.block_on(drain(args)),
        other => Err(format!("unknown mode {other}; use gateway, mqtt, idle or drain").into()),
    }
}
