//! Per-packet cost of the data path next to the raw AEAD it is built on.
//!
//! `cargo bench -p skywire-core --bench datapath` (under two minutes).
//!
//! - `aead_ring`: ChaCha20-Poly1305 from ring, through snow's `RingResolver`
//!   cipher: what our transport keys run (snow's `ring-accelerated` feature),
//!   one call per message, from one buffer into another as snow does it. The
//!   ceiling for our path.
//! - `aead_rustcrypto`: `chacha20poly1305::ChaCha20Poly1305` in place, the
//!   portable implementation the transport used before ring (and snow's
//!   fallback), for comparison.
//! - `session`: [`Session::encapsulate`] of one Data frame, and encapsulate plus
//!   the peer's [`Session::decapsulate`] (a full send + receive of one packet).
//! - `framing`: [`classify`] plus [`Transport::parse`] of a transport message:
//!   the per-packet work of the receive path that is not crypto.
//!
//! Every group runs the same payload sizes: a small packet, a medium one, a
//! full 1420-byte MTU packet and an 8 KiB one. Throughput is payload bytes.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce, Tag};
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkGroup, BenchmarkId, Criterion, Throughput};

use snow::params::CipherChoice;
use snow::resolvers::{CryptoResolver, RingResolver};

use skywire_core::session::{Decapsulated, FrameKind, Responded, Responder, ResponderConfig, Session, SessionConfig};
use skywire_core::wire::message::{classify, Route, Transport, TAG_LEN, TRANSPORT_HEADER_LEN};
use skywire_core::{Keypair, SecretKey};

const SIZES: [usize; 4] = [64, 512, 1420, 8192];
/// Transport overhead around a body: header, kind byte, tag.
const OVERHEAD: usize = TRANSPORT_HEADER_LEN + 1 + TAG_LEN;

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + 7).to_le_bytes()[0]).collect()
}

fn configure<'c>(c: &'c mut Criterion, name: &str) -> BenchmarkGroup<'c, WallTime> {
    let mut g = c.benchmark_group(name);
    g.warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(2)).sample_size(30);
    g
}

/// snow's ring cipher (needs snow's `ring-accelerated` feature, which the crate
/// enables): `encrypt` copies the plaintext into `out` and seals it there,
/// `decrypt` copies the ciphertext into `out` and opens it there. The input is
/// never touched, so every iteration decrypts a valid message.
fn aead_ring(c: &mut Criterion) {
    let mut cipher = RingResolver.resolve_cipher(&CipherChoice::ChaChaPoly).expect("ring has ChaChaPoly");
    cipher.set(&[7u8; 32]);
    let mut g = configure(c, "aead_ring");
    for size in SIZES {
        g.throughput(Throughput::Bytes(size as u64));
        let plain = payload(size);
        let mut ct = vec![0u8; size + TAG_LEN];
        let mut out = vec![0u8; size + TAG_LEN];
        assert_eq!(cipher.encrypt(1, b"", &plain, &mut ct), size + TAG_LEN);
        assert_eq!(cipher.decrypt(1, b"", &ct, &mut out), Ok(size));
        assert_eq!(&out[..size], &plain[..]);

        g.bench_function(BenchmarkId::new("encrypt", size), |b| {
            b.iter(|| cipher.encrypt(1, b"", black_box(&plain), &mut out))
        });
        g.bench_function(BenchmarkId::new("decrypt", size), |b| {
            b.iter(|| cipher.decrypt(1, b"", black_box(&ct), &mut out).unwrap())
        });
    }
    g.finish();
}

fn aead_rustcrypto(c: &mut Criterion) {
    let cipher = ChaCha20Poly1305::new(Key::from_slice(&[7u8; 32]));
    let nonce = Nonce::from_slice(&[0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
    let mut g = configure(c, "aead_rustcrypto");
    for size in SIZES {
        g.throughput(Throughput::Bytes(size as u64));

        let mut buf = payload(size);
        g.bench_function(BenchmarkId::new("encrypt", size), |b| {
            b.iter(|| cipher.encrypt_in_place_detached(nonce, b"", black_box(&mut buf[..])).unwrap())
        });

        // Decrypting in place destroys the ciphertext, and a wrong tag is
        // rejected before the keystream is applied, so each iteration gets a
        // fresh copy made outside the timed part.
        let mut ct = payload(size);
        let tag: Tag = cipher.encrypt_in_place_detached(nonce, b"", &mut ct).unwrap();
        g.bench_function(BenchmarkId::new("decrypt", size), |b| {
            b.iter_batched_ref(
                || ct.clone(),
                |buf| cipher.decrypt_in_place_detached(nonce, b"", black_box(&mut buf[..]), &tag).unwrap(),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

/// A dials B, B answers, A's keepalive confirms the keys to B (as in the
/// session tests). Only the public API: this bench is an external crate.
fn establish(t0: Instant) -> (Session, Session) {
    let ka = Keypair::from_secret(SecretKey::from_bytes([1; 32]));
    let kb = Keypair::from_secret(SecretKey::from_bytes([2; 32]));
    let src: SocketAddr = "198.51.100.7:40000".parse().unwrap();
    let mut resp = Responder::new(&kb, ResponderConfig::default(), t0);
    let mut out = [0u8; 2048];
    let mut out2 = [0u8; 2048];
    let (mut a, init) = Session::initiate(&ka, kb.public, 100, SessionConfig::default(), t0, &mut out).unwrap();
    let init = init.to_vec();
    let Responded::Accepted { session: b, response } = resp.handle_initiation(src, &init, 200, t0, &mut out2).unwrap()
    else {
        panic!("responder did not accept the initiation")
    };
    let mut b = *b;
    let confirm = match a.decapsulate(response, t0, &mut out).unwrap() {
        Decapsulated::WriteBack(m) => m.to_vec(),
        other => panic!("expected the confirming keepalive, got {other:?}"),
    };
    assert_eq!(b.decapsulate(&confirm, t0, &mut out2), Ok(Decapsulated::Keepalive));
    assert!(a.is_established() && b.is_established());
    (a, b)
}

fn session(c: &mut Criterion) {
    // Keys are created at t0 and every call passes t0, so they never age out;
    // counters only go up, so the replay window accepts every message.
    let t0 = Instant::now();
    let (mut a, mut b) = establish(t0);
    let mut g = configure(c, "session");
    for size in SIZES {
        g.throughput(Throughput::Bytes(size as u64));
        let body = payload(size);
        let mut wire = vec![0u8; size + OVERHEAD];
        let mut plain = vec![0u8; size + OVERHEAD];

        // Sanity check outside the timing: the message goes through intact.
        let m = a.encapsulate(FrameKind::Data, &body, t0, &mut wire).unwrap();
        assert_eq!(m.len(), size + OVERHEAD);
        assert_eq!(b.decapsulate(m, t0, &mut plain), Ok(Decapsulated::Data(&body[..])));

        g.bench_function(BenchmarkId::new("encapsulate", size), |bch| {
            bch.iter(|| a.encapsulate(FrameKind::Data, black_box(&body), t0, &mut wire).unwrap().len())
        });

        g.bench_function(BenchmarkId::new("roundtrip", size), |bch| {
            bch.iter(|| {
                let m = a.encapsulate(FrameKind::Data, black_box(&body), t0, &mut wire).unwrap();
                match b.decapsulate(m, t0, &mut plain) {
                    Ok(Decapsulated::Data(d)) => d.len(),
                    other => panic!("expected data, got {other:?}"),
                }
            })
        });
    }
    g.finish();
}

fn framing(c: &mut Criterion) {
    let t0 = Instant::now();
    let (mut a, _b) = establish(t0);
    let mut g = configure(c, "framing");
    for size in SIZES {
        g.throughput(Throughput::Bytes(size as u64));
        let mut wire = vec![0u8; size + OVERHEAD];
        let n = a.encapsulate(FrameKind::Data, &payload(size), t0, &mut wire).unwrap().len();
        let msg = &wire[..n];

        // What the I/O loop does with a datagram before any crypto: route it by
        // index, then split the transport header from the ciphertext.
        g.bench_function(BenchmarkId::new("classify_parse", size), |bch| {
            bch.iter(|| {
                let msg = black_box(msg);
                let Ok(Route::Index(i)) = classify(msg) else { panic!("not a transport message") };
                let t = Transport::parse(msg).unwrap();
                (i, t.counter, t.ciphertext.len())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, aead_ring, aead_rustcrypto, session, framing);
criterion_main!(benches);
