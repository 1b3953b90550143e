//! Sliding replay window over transport counters (RFC 6479 style bitmap).

use super::SessionError;

/// Counters accepted behind the highest one seen, including it.
pub const WINDOW_SIZE: u64 = 2048;
const WORDS: usize = (WINDOW_SIZE / 64) as usize;

/// Receive-side replay protection for one set of transport keys.
///
/// Split in two steps so that a forged packet cannot move the window: call
/// [`check`](Self::check) before decrypting (cheap reject) and
/// [`accept`](Self::accept) only after the AEAD tag verified.
#[derive(Debug, Clone)]
pub struct ReplayWindow {
    /// One past the highest accepted counter; 0 = nothing accepted yet.
    next: u64,
    bits: [u64; WORDS],
}

impl Default for ReplayWindow {
    fn default() -> Self {
        Self::new()
    }
}

impl ReplayWindow {
    pub fn new() -> Self {
        ReplayWindow { next: 0, bits: [0; WORDS] }
    }

    fn slot(counter: u64) -> (usize, u64) {
        let bit = counter % WINDOW_SIZE;
        ((bit / 64) as usize, 1u64 << (bit % 64))
    }

    pub fn check(&self, counter: u64) -> Result<(), SessionError> {
        if counter >= self.next {
            return Ok(());
        }
        if self.next - counter > WINDOW_SIZE {
            return Err(SessionError::CounterTooOld(counter));
        }
        let (w, m) = Self::slot(counter);
        if self.bits[w] & m != 0 {
            Err(SessionError::Replayed(counter))
        } else {
            Ok(())
        }
    }

    /// Record `counter` as received; re-checks, so it is safe on its own too.
    pub fn accept(&mut self, counter: u64) -> Result<(), SessionError> {
        self.check(counter)?;
        if counter >= self.next {
            let advance = counter - self.next + 1;
            if advance >= WINDOW_SIZE {
                self.bits = [0; WORDS];
            } else {
                // Slots between the old top and the new one now stand for
                // counters never seen; clear them before they are reused.
                for c in self.next..counter {
                    let (w, m) = Self::slot(c);
                    self.bits[w] &= !m;
                }
            }
            self.next = counter + 1;
        }
        let (w, m) = Self::slot(counter);
        self.bits[w] |= m;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_and_repeats() {
        let mut w = ReplayWindow::new();
        for c in 0..5000 {
            w.accept(c).unwrap();
        }
        assert_eq!(w.check(4999), Err(SessionError::Replayed(4999)));
        assert_eq!(w.check(4000), Err(SessionError::Replayed(4000)));
        assert_eq!(w.accept(0), Err(SessionError::CounterTooOld(0)));
        w.check(5000).unwrap();
    }

    #[test]
    fn reordering_inside_window() {
        let mut w = ReplayWindow::new();
        w.accept(3000).unwrap();
        // Oldest still inside: 3000 - 2047.
        w.accept(3000 - 2047).unwrap();
        assert_eq!(w.accept(3000 - 2048), Err(SessionError::CounterTooOld(952)));
        for c in (1000..3000).rev().step_by(7) {
            w.accept(c).unwrap();
            assert_eq!(w.accept(c), Err(SessionError::Replayed(c)));
        }
        // A big jump forgets everything older but still rejects repeats.
        w.accept(1_000_000).unwrap();
        assert_eq!(w.check(1_000_000), Err(SessionError::Replayed(1_000_000)));
        assert_eq!(w.check(3000), Err(SessionError::CounterTooOld(3000)));
        w.check(999_999).unwrap();
    }

    #[test]
    fn slots_are_cleared_on_advance() {
        let mut w = ReplayWindow::new();
        w.accept(5).unwrap();
        // 5 + 2048 shares slot with 5; advancing must not report it replayed,
        // and the new 5 + 2048 - 1 .. slots must read as unseen.
        w.accept(5 + 2048).unwrap();
        w.check(5 + 2047).unwrap();
        w.accept(5 + 2047).unwrap();
        assert_eq!(w.check(5 + 2047), Err(SessionError::Replayed(2052)));
        assert_eq!(w.check(5), Err(SessionError::CounterTooOld(5)));
    }
}
