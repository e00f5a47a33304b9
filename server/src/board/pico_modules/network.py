# network for the simulated Pico (HeapLens): a Pico W's WLAN that never connects. After
# connect(), status() says STAT_CONNECTING twice, then STAT_CONNECT_FAIL; isconnected() is
# always False. See README.md beside this file.
STA_IF = 0
AP_IF = 1
STAT_IDLE = 0
STAT_CONNECTING = 1
STAT_GOT_IP = 3
STAT_CONNECT_FAIL = -1
STAT_NO_AP_FOUND = -2
STAT_WRONG_PASSWORD = -3


class WLAN:
    IF_STA = 0
    IF_AP = 1
    PM_NONE = 0x10
    PM_PERFORMANCE = 0xA11142
    PM_POWERSAVE = 0x11

    def __init__(self, interface=0):
        self._on = False
        self._polls = -1  # status() calls since connect(), -1 when not connecting

    def active(self, value=None):
        if value is None:
            return self._on
        self._on = bool(value)

    def connect(self, ssid=None, key=None, bssid=None):
        self._on = True
        self._polls = 0

    def disconnect(self):
        self._polls = -1

    deinit = disconnect

    def status(self, param=None):
        if param is not None:
            return 0
        if self._polls < 0:
            return STAT_IDLE
        self._polls += 1
        return STAT_CONNECTING if self._polls <= 2 else STAT_CONNECT_FAIL

    def isconnected(self):
        return False

    def ifconfig(self, config=None):
        return ("0.0.0.0", "0.0.0.0", "0.0.0.0", "0.0.0.0")

    def scan(self):
        return []

    def config(self, *args, **kw):
        if args:
            return {"mac": b"\x28\xcd\xc1\x0e\x5a\x01", "channel": 1, "ssid": ""}.get(args[0])
