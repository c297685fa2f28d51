//! Model-based test: random appends, partial acknowledgements, crashes
//! (torn tails, dropped handles), reopenings and a second writer, checked
//! against a queue of the records that were acknowledged as written and not
//! yet as delivered.

use std::collections::VecDeque;
use std::io::Write;

use super::*;
use frontier_testkit::scratch;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn all_pending(spool: &Spool) -> Vec<Vec<u8>> {
    spool.read_batch(usize::MAX, usize::MAX).unwrap().records
}

/// A crashed writer: half a record at the end of the newest segment.
fn tear_tail(dir: &Path, rng: &mut Rng) {
    let mut segs: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            (p.extension().is_some_and(|x| x == "seg")).then_some(p)
        })
        .collect();
    segs.sort();
    if let Some(last) = segs.last() {
        let mut f = OpenOptions::new().append(true).open(last).unwrap();
        let record = b"{\"half\":\"a row that never finished\"}";
        let mut bytes = (record.len() as u32).to_le_bytes().to_vec();
        bytes.extend(crc32fast::hash(record).to_le_bytes());
        bytes.extend(record);
        let cut = 1 + rng.below(bytes.len() as u64 - 1) as usize;
        f.write_all(&bytes[..cut]).unwrap();
    }
}

#[test]
fn behaves_like_a_queue_through_crashes() {
    for seed in 1..=12u64 {
        let dir = scratch(&format!("model{seed}"));
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let open = |dir: &Path| Spool::open_with_segment_bytes(dir, 4096).unwrap();
        let mut spool = open(&dir);
        let mut other: Option<Spool> = None;
        let mut model: VecDeque<Vec<u8>> = VecDeque::new();
        let mut next_id = 0u64;
        let mut warned_torn = 0usize;
        for step in 0..300 {
            match rng.below(10) {
                // Append a few records, from this process or a second one.
                0..=3 => {
                    let n = 1 + rng.below(5) as usize;
                    let recs: Vec<Vec<u8>> = (0..n)
                        .map(|_| {
                            next_id += 1;
                            // Segments of 4 KiB roll often; some records are longer.
                            let pad = "x".repeat(rng.below(4) as usize * 900);
                            format!("{{\"id\":{next_id},\"pad\":\"{pad}\"}}").into_bytes()
                        })
                        .collect();
                    let writer = if rng.below(4) == 0 {
                        other.get_or_insert_with(|| open(&dir))
                    } else {
                        &mut spool
                    };
                    writer.append(&recs).unwrap();
                    model.extend(recs);
                }
                // Read a batch and acknowledge a prefix of it (a 2xx for part
                // of what was sent; the rest is resent later).
                4..=6 => {
                    let batch = spool
                        .read_batch(1 + rng.below(8) as usize, 1 << 20)
                        .unwrap();
                    warned_torn += batch.warnings.len();
                    let expect: Vec<_> = model.iter().take(batch.records.len()).cloned().collect();
                    assert_eq!(
                        batch.records, expect,
                        "seed {seed} step {step}: batch order"
                    );
                    if !batch.records.is_empty() {
                        let k = rng.below(batch.records.len() as u64 + 1) as usize;
                        if k > 0 {
                            spool.ack(batch.ends[k - 1]).unwrap();
                            model.drain(..k);
                        }
                    } else {
                        spool.ack(batch.end).unwrap();
                    }
                }
                // A crash: a torn tail, the handles dropped, reopened.
                7 => {
                    tear_tail(&dir, &mut rng);
                    drop(std::mem::replace(&mut spool, open(&dir)));
                    other = None;
                }
                // A stale acknowledgement (an older sender finishing late)
                // never moves the position back.
                8 => spool.ack(Position::default()).unwrap(),
                _ => {
                    let p = spool.pending().unwrap();
                    assert_eq!(
                        p.records as usize,
                        model.len(),
                        "seed {seed} step {step}: pending"
                    );
                }
            }
        }
        assert_eq!(
            all_pending(&spool),
            Vec::from(model.clone()),
            "seed {seed}: final"
        );
        // Drain everything: the spool ends empty, with at most the newest segment left.
        let b = spool.read_batch(usize::MAX, usize::MAX).unwrap();
        spool.ack(b.end).unwrap();
        assert_eq!(spool.pending().unwrap().records, 0);
        let segs = spool.segments().unwrap();
        assert!(
            segs.len() <= 1,
            "seed {seed}: delivered segments not deleted: {segs:?}"
        );
        let _ = warned_torn;
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn a_corrupt_record_costs_only_itself_and_is_named() {
    let dir = scratch("corrupt");
    let mut spool = Spool::open(&dir).unwrap();
    let recs: Vec<String> = (0..5).map(|i| format!("{{\"id\":{i}}}")).collect();
    spool.append(&recs).unwrap();
    let seg = dir.join(segment_name(1));
    let mut bytes = std::fs::read(&seg).unwrap();
    // Flip a byte inside the third record's payload.
    let third = MAGIC.len() + 2 * (8 + recs[0].len());
    bytes[third + 8 + 3] ^= 0x55;
    std::fs::write(&seg, &bytes).unwrap();
    let b = spool.read_batch(100, 1 << 20).unwrap();
    let got: Vec<String> = b
        .records
        .iter()
        .map(|r| String::from_utf8(r.clone()).unwrap())
        .collect();
    assert_eq!(
        got,
        vec![
            recs[0].clone(),
            recs[1].clone(),
            recs[3].clone(),
            recs[4].clone()
        ]
    );
    assert_eq!(b.warnings.len(), 1, "{:?}", b.warnings);
    assert!(
        b.warnings[0].contains(&seg.display().to_string()),
        "{}",
        b.warnings[0]
    );
    assert!(
        b.warnings[0].contains(&format!("offset {third}")),
        "{}",
        b.warnings[0]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_torn_tail_is_skipped_and_later_rows_still_arrive() {
    let dir = scratch("torn");
    let mut spool = Spool::open(&dir).unwrap();
    spool.append(&["{\"id\":1}", "{\"id\":2}"]).unwrap();
    let mut rng = Rng(7);
    tear_tail(&dir, &mut rng);
    // The next process writes a new segment, never after the torn tail.
    let mut spool = Spool::open(&dir).unwrap();
    spool.append(&["{\"id\":3}"]).unwrap();
    let b = spool.read_batch(100, 1 << 20).unwrap();
    assert_eq!(b.records.len(), 3);
    assert_eq!(b.records[2], b"{\"id\":3}");
    assert_eq!(b.warnings.len(), 1);
    assert!(
        b.warnings[0].contains("00000000000000000001.seg"),
        "{}",
        b.warnings[0]
    );
    spool.ack(b.end).unwrap();
    assert_eq!(spool.segments().unwrap(), vec![2]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn oversize_rows_are_refused_before_anything_is_written() {
    let dir = scratch("oversize");
    let mut spool = Spool::open(&dir).unwrap();
    let big = vec![b'x'; MAX_RECORD as usize + 1];
    assert!(matches!(
        spool.append(&[big]),
        Err(SpoolError::TooLarge { .. })
    ));
    assert_eq!(spool.pending().unwrap(), Pending::default());
    std::fs::remove_dir_all(&dir).unwrap();
}
