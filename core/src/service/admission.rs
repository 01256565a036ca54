//! Who numbers connections and counts them against `--max-conns`: the service itself
//! ([`Counter`]), or, for a server of several worker threads, one shared count (the host's
//! atomics) so numbers stay unique and increasing and the limit holds for the whole server.
//! Touched once per accept and once per close, never per message.

/// Numbers and admits connections for a [`super::Service`].
pub trait Admission {
    /// Takes the next connection number (from 1: 0 marks a closed connection), and a slot
    /// if fewer than `max` are open: `(number, admitted)`. A rejected connection still uses
    /// up its number.
    fn admit(&mut self, max: usize) -> (u64, bool);

    /// Gives back the slot of an admitted connection that closed (once per admit that
    /// returned `true`: the service closes each connection once).
    fn release(&mut self);

    /// Connections admitted and not yet released.
    fn open(&self) -> usize;
}

/// The admission of a service alone: numbers from 1, a plain count.
#[derive(Debug, Clone)]
pub struct Counter {
    next: u64,
    open: usize,
}

impl Default for Counter {
    fn default() -> Self {
        Counter { next: 1, open: 0 }
    }
}

impl Admission for Counter {
    fn admit(&mut self, max: usize) -> (u64, bool) {
        let id = self.next;
        self.next += 1;
        let admitted = self.open < max;
        if admitted {
            self.open += 1;
        }
        (id, admitted)
    }

    fn release(&mut self) {
        debug_assert!(self.open > 0, "a connection released twice");
        self.open -= 1;
    }

    fn open(&self) -> usize {
        self.open
    }
}
