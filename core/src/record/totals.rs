//! The `shutdown` record's totals: counted by the service, carried field by field.

/// The server's running totals (the service counts them; the `shutdown` record carries them
/// as [`TotalFields`], alongside `bytes_in`/`bytes_out`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Totals {
    /// TCP connections accepted and served.
    pub conns: u64,
    /// TCP connections rejected over `--max-conns`.
    pub rejected: u64,
    /// `echo` records written (lines and datagrams): 0 when `echo` is below the log level.
    pub echoes: u64,
    /// Datagrams refused for a source port below 1024.
    pub refused_port: u64,
    /// Datagrams refused over the rate limit.
    pub refused_rate: u64,
    /// Datagrams refused because the rate table was full, or too large.
    pub refused_busy: u64,
    /// Console lines dropped because stdout was not being read (PRODUCT.md "server":
    /// logging never stalls echo).
    pub console_dropped: u64,
}

/// A record's `shutdown` totals, each its own optional field: a record carries exactly the
/// totals it was written or read with, never a default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TotalFields {
    /// See [`Totals::conns`].
    pub conns: Option<u64>,
    /// See [`Totals::rejected`].
    pub rejected: Option<u64>,
    /// See [`Totals::echoes`].
    pub echoes: Option<u64>,
    /// See [`Totals::refused_port`].
    pub refused_port: Option<u64>,
    /// See [`Totals::refused_rate`].
    pub refused_rate: Option<u64>,
    /// See [`Totals::refused_busy`].
    pub refused_busy: Option<u64>,
    /// See [`Totals::console_dropped`].
    pub console_dropped: Option<u64>,
}

impl TotalFields {
    /// No total.
    pub const NONE: TotalFields = TotalFields {
        conns: None,
        rejected: None,
        echoes: None,
        refused_port: None,
        refused_rate: None,
        refused_busy: None,
        console_dropped: None,
    };

    /// The field names, in the order records and CSV columns write them.
    pub const NAMES: [&'static str; 7] = [
        "conns",
        "rejected",
        "echoes",
        "refused_port",
        "refused_rate",
        "refused_busy",
        "console_dropped",
    ];

    /// The values in [`TotalFields::NAMES`] order.
    pub const fn values(&self) -> [Option<u64>; 7] {
        [
            self.conns,
            self.rejected,
            self.echoes,
            self.refused_port,
            self.refused_rate,
            self.refused_busy,
            self.console_dropped,
        ]
    }

    /// The field named `NAMES[i]`.
    pub fn get_mut(&mut self, i: usize) -> Option<&mut Option<u64>> {
        Some(match i {
            0 => &mut self.conns,
            1 => &mut self.rejected,
            2 => &mut self.echoes,
            3 => &mut self.refused_port,
            4 => &mut self.refused_rate,
            5 => &mut self.refused_busy,
            6 => &mut self.console_dropped,
            _ => return None,
        })
    }
}

/// Every total present.
impl From<Totals> for TotalFields {
    fn from(t: Totals) -> Self {
        TotalFields {
            conns: Some(t.conns),
            rejected: Some(t.rejected),
            echoes: Some(t.echoes),
            refused_port: Some(t.refused_port),
            refused_rate: Some(t.refused_rate),
            refused_busy: Some(t.refused_busy),
            console_dropped: Some(t.console_dropped),
        }
    }
}
