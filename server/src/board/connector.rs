//! The board seam: a [`Connector`] knows how to reach one kind of board and opens a byte
//! [`Transport`] to it; [`connector_for`] is the one place where a [`BoardSpec`] (including
//! `auto`) becomes a connector. Everything above (the raw REPL, runs, the editor) only ever
//! sees a transport, so a new kind of board is a new connector plus a spec variant.

use std::path::PathBuf;

use super::transport::{SerialTransport, Transport};
use super::{discovery, BoardKind, BoardSpec, LinkError, LinkOptions, SimHandle, SimOptions};

/// How to reach one board. Opened once per [`super::Board`]; `connect` is called again after
/// a disconnect, so it must be able to reopen.
pub trait Connector: Send {
    /// Opens a fresh byte link to the board.
    fn connect(&mut self, opts: &LinkOptions) -> Result<Box<dyn Transport>, LinkError>;
    /// Serial board or simulated Pico (the status bar says which).
    fn kind(&self) -> BoardKind;
    /// The simulated Pico behind this connector, when it is one.
    fn simulator(&self) -> Option<&SimHandle> {
        None
    }
}

/// A USB serial port or any tty path (a pty made by `heaplens sim --link` included).
pub struct SerialConnector {
    path: PathBuf,
}

impl SerialConnector {
    /// A connector for the port at `path` (nothing is opened yet).
    pub fn new(path: PathBuf) -> SerialConnector {
        SerialConnector { path }
    }
}

impl Connector for SerialConnector {
    fn connect(&mut self, opts: &LinkOptions) -> Result<Box<dyn Transport>, LinkError> {
        Ok(Box::new(SerialTransport::open(
            &self.path,
            opts.write_timeout,
        )?))
    }

    fn kind(&self) -> BoardKind {
        BoardKind::Serial
    }
}

/// The simulated Pico: started with the connector, reached over its host pty through the same
/// [`SerialTransport`] as a real board. A killed interpreter gets a new pty, which the next
/// `connect` finds.
pub struct SimConnector {
    handle: SimHandle,
}

impl SimConnector {
    /// Starts the simulated Pico.
    pub fn start(options: SimOptions) -> Result<SimConnector, LinkError> {
        Ok(SimConnector {
            handle: SimHandle::start(options)?,
        })
    }
}

impl Connector for SimConnector {
    fn connect(&mut self, opts: &LinkOptions) -> Result<Box<dyn Transport>, LinkError> {
        let path = self.handle.wait_path(opts.response_timeout)?;
        Ok(Box::new(SerialTransport::open(&path, opts.write_timeout)?))
    }

    fn kind(&self) -> BoardKind {
        BoardKind::Simulated
    }

    fn simulator(&self) -> Option<&SimHandle> {
        Some(&self.handle)
    }
}

/// The connector for `spec`. `auto` is resolved here and only here: the best detected
/// MicroPython board, else the simulated Pico started with `sim`.
pub fn connector_for(spec: &BoardSpec, sim: &SimOptions) -> Result<Box<dyn Connector>, LinkError> {
    Ok(match spec {
        BoardSpec::Auto => match discovery::best_micropython_port() {
            Some(port) => Box::new(SerialConnector::new(PathBuf::from(port.port_name))),
            None => Box::new(SimConnector::start(sim.clone())?),
        },
        BoardSpec::Simulated => Box::new(SimConnector::start(sim.clone())?),
        BoardSpec::Path(path) => Box::new(SerialConnector::new(path.clone())),
        BoardSpec::SerialNumber(serial) => {
            let port = discovery::find_by_serial_number(serial).ok_or_else(|| {
                LinkError::SerialNumberNotFound {
                    serial: serial.clone(),
                }
            })?;
            Box::new(SerialConnector::new(PathBuf::from(port.port_name)))
        }
    })
}
