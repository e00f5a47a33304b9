//! Finding boards: serial ports with their USB identity, ranked so that MicroPython boards come
//! first (as mpremote's `connect auto` and MicroPico rank them). Ranking is plain data; only `list_ports` touches the system.

use std::path::Path;

use serde::Serialize;

/// One serial port as seen by the OS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortInfo {
    pub port_name: String,
    pub vid: Option<u16>,
    pub pid: Option<u16>,
    pub manufacturer: Option<String>,
    pub product: Option<String>,
    pub serial_number: Option<String>,
    /// Lower is more likely a MicroPython board; None = not a USB device we recognise.
    pub rank: Option<u8>,
}

/// USB vendor ids MicroPython boards commonly use, most likely first: Raspberry Pi, the
/// MicroPython project, Adafruit, Arduino, Espressif, then USB-serial bridges (Silicon Labs,
/// WCH, FTDI).
pub const KNOWN_VIDS: [u16; 8] = [
    0x2E8A, 0xF055, 0x239A, 0x2341, 0x303A, 0x10C4, 0x1A86, 0x0403,
];

/// Rank of a USB identity: 0 for a Pico running MicroPython (2E8A:0005), 1.. for known VIDs.
pub fn rank(vid: u16, pid: u16) -> Option<u8> {
    if (vid, pid) == (0x2E8A, 0x0005) {
        return Some(0);
    }
    KNOWN_VIDS
        .iter()
        .position(|&known| known == vid)
        .map(|i| u8::try_from(i + 1).unwrap_or(u8::MAX))
}

/// Sorts ports: ranked ones first (best rank, then name), then the rest by name.
pub fn sort_ports(ports: &mut [PortInfo]) {
    ports.sort_by(|a, b| {
        let key = |p: &PortInfo| (p.rank.unwrap_or(u8::MAX), p.port_name.clone());
        key(a).cmp(&key(b))
    });
}

/// Every serial port on the machine, MicroPython boards first. Errors give an empty list.
pub fn list_ports() -> Vec<PortInfo> {
    let found = serialport::available_ports().unwrap_or_default();
    let mut ports: Vec<PortInfo> = found
        .into_iter()
        .map(|p| match p.port_type {
            serialport::SerialPortType::UsbPort(usb) => PortInfo {
                port_name: p.port_name,
                vid: Some(usb.vid),
                pid: Some(usb.pid),
                manufacturer: usb.manufacturer,
                product: usb.product,
                serial_number: usb.serial_number,
                rank: rank(usb.vid, usb.pid),
            },
            _ => PortInfo {
                port_name: p.port_name,
                vid: None,
                pid: None,
                manufacturer: None,
                product: None,
                serial_number: None,
                rank: None,
            },
        })
        .collect();
    sort_ports(&mut ports);
    ports
}

/// A board the user can pick: what the board picker and `heaplens ports` list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BoardListing {
    /// How to select it (`--board`, `heaplens.board`).
    pub spec: super::BoardSpec,
    /// Short name (the port path, or "Simulated Pico").
    pub label: String,
    /// USB identity, or what the simulated board is.
    pub description: String,
}

/// Every kind of board that can be found, in the order the picker lists them. Adding a kind
/// of board that can be discovered (say WebREPL boards announced on the network) is one more
/// entry here.
const DISCOVERERS: &[fn() -> Vec<BoardListing>] = &[serial_boards, simulated_board];

/// Every board that can be picked now: detected serial ports (MicroPython boards first), then
/// the simulated Pico.
pub fn available_boards() -> Vec<BoardListing> {
    DISCOVERERS.iter().flat_map(|discover| discover()).collect()
}

fn serial_boards() -> Vec<BoardListing> {
    list_ports()
        .into_iter()
        .map(|p| {
            let ids = match (p.vid, p.pid) {
                (Some(v), Some(pid)) => format!("{v:04X}:{pid:04X}"),
                _ => "no USB id".to_string(),
            };
            let who = [p.manufacturer.as_deref(), p.product.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            BoardListing {
                spec: super::BoardSpec::Path(p.port_name.clone().into()),
                label: p.port_name,
                description: format!("{ids} {who}").trim().to_string(),
            }
        })
        .collect()
}

/// The simulated Pico, on the systems it runs on (Linux); elsewhere the picker does not
/// offer a board that cannot start.
fn simulated_board() -> Vec<BoardListing> {
    if !cfg!(target_os = "linux") {
        return Vec::new();
    }
    vec![BoardListing {
        spec: super::BoardSpec::Simulated,
        label: "Simulated Pico".into(),
        description: "MicroPython unix port with a Pico-sized heap, run locally".into(),
    }]
}

/// The most likely MicroPython board, if any is attached.
pub fn best_micropython_port() -> Option<PortInfo> {
    // Only a USB port can rank. Asking udev about every tty costs ~20 ms on a PC (dozens of
    // virtual consoles): a run with no board attached should not pay it.
    if cfg!(target_os = "linux") && !usb_tty_present(Path::new("/sys/class/tty")) {
        return None;
    }
    list_ports().into_iter().find(|p| p.rank.is_some())
}

/// Whether any tty in `class_tty` (Linux sysfs) is a USB device: `*/device/subsystem` is `usb`
/// for CDC ACM ports such as a Pico's, `usb-serial` for USB-serial bridges. An unreadable
/// folder says yes, so the full enumeration decides.
fn usb_tty_present(class_tty: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(class_tty) else {
        return true;
    };
    entries.flatten().any(|entry| {
        std::fs::read_link(entry.path().join("device/subsystem")).is_ok_and(|target| {
            target
                .file_name()
                .is_some_and(|name| name == "usb" || name == "usb-serial")
        })
    })
}

/// The port whose USB serial number is `serial`.
pub fn find_by_serial_number(serial: &str) -> Option<PortInfo> {
    list_ports()
        .into_iter()
        .find(|p| p.serial_number.as_deref() == Some(serial))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(name: &str, vid: u16, pid: u16) -> PortInfo {
        PortInfo {
            port_name: name.into(),
            vid: Some(vid),
            pid: Some(pid),
            manufacturer: None,
            product: None,
            serial_number: None,
            rank: rank(vid, pid),
        }
    }

    /// A sysfs-like tree: `class/tty/NAME/device` → a device whose `subsystem` links to a bus.
    #[cfg(unix)]
    fn sysfs(ttys: &[(&str, Option<&str>)]) -> tempfile::TempDir {
        use std::os::unix::fs::symlink;
        let root = tempfile::tempdir().unwrap();
        let class = root.path().join("class/tty");
        for (name, bus) in ttys {
            let tty = class.join(name);
            std::fs::create_dir_all(&tty).unwrap();
            if let Some(bus) = bus {
                let device = root.path().join("devices").join(name);
                std::fs::create_dir_all(&device).unwrap();
                let bus_dir = root.path().join("bus").join(bus);
                std::fs::create_dir_all(&bus_dir).unwrap();
                symlink(&bus_dir, device.join("subsystem")).unwrap();
                symlink(&device, tty.join("device")).unwrap();
            }
        }
        root
    }

    #[cfg(unix)]
    #[test]
    fn only_a_usb_tty_is_worth_a_full_enumeration() {
        let consoles = sysfs(&[("tty0", None), ("tty1", None), ("ttyS0", Some("pnp"))]);
        assert!(!usb_tty_present(&consoles.path().join("class/tty")));
        let pico = sysfs(&[("tty0", None), ("ttyACM0", Some("usb"))]);
        assert!(usb_tty_present(&pico.path().join("class/tty")));
        let bridge = sysfs(&[("ttyUSB0", Some("usb-serial"))]);
        assert!(usb_tty_present(&bridge.path().join("class/tty")));
        assert!(usb_tty_present(Path::new("/nonexistent/class/tty")));
    }

    #[test]
    fn a_micropython_pico_ranks_first_then_known_vendors_then_the_rest() {
        let mut ports = vec![
            port("/dev/ttyUSB0", 0x1A86, 0x7523),
            port("/dev/ttyACM1", 0x1234, 0x0001),
            port("/dev/ttyACM2", 0x2E8A, 0x0005),
            port("/dev/ttyACM0", 0x2E8A, 0x000A),
        ];
        sort_ports(&mut ports);
        let names: Vec<_> = ports.iter().map(|p| p.port_name.as_str()).collect();
        assert_eq!(
            names,
            [
                "/dev/ttyACM2",
                "/dev/ttyACM0",
                "/dev/ttyUSB0",
                "/dev/ttyACM1"
            ]
        );
        assert_eq!(rank(0x1234, 1), None);
    }
}
