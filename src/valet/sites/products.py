# pyright: strict
"""Static product data of the "Voltline" demo electronics shop."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Category:
    slug: str
    name: str
    blurb: str


@dataclass(frozen=True)
class Product:
    slug: str
    name: str
    brand: str
    category: str
    price_cents: int
    rating: float
    reviews: int
    description: str
    specs: tuple[tuple[str, str], ...] = ()
    in_stock: bool = True

    @property
    def price(self) -> str:
        return format_price(self.price_cents)

    @property
    def hue(self) -> int:
        """Per-product tint for the shared category artwork (degrees)."""
        return (sum(map(ord, self.slug)) * 47) % 360

    @property
    def image(self) -> str:
        return f"/static/img/{self.category}.svg"


def format_price(cents: int) -> str:
    return f"${cents // 100:,}.{cents % 100:02d}"


CATEGORIES: tuple[Category, ...] = (
    Category("cables", "Cables", "USB-C, Lightning and HDMI cables for every setup."),
    Category("chargers", "Chargers", "Fast wall chargers and car adapters."),
    Category("headphones", "Headphones", "Over-ear, in-ear and true wireless audio."),
    Category("speakers", "Speakers", "Portable and smart speakers."),
    Category("power-banks", "Power banks", "Portable batteries to keep you going."),
    Category("accessories", "Accessories", "Adapters, hubs, mice and keyboards."),
)

_P = Product
PRODUCTS: tuple[Product, ...] = (
    # --- cables: several USB-C cable variants at different prices -------------
    _P(
        "braided-usb-c-cable-2m",
        "Braided USB-C Cable 2 m",
        "Anchorline",
        "cables",
        1299,
        4.6,
        812,
        "Nylon-braided USB-C to USB-C cable rated for 60 W charging and 480 Mbps data.",
        (("Length", "2 m"), ("Power", "60 W"), ("Data", "USB 2.0, 480 Mbps")),
    ),
    _P(
        "usb-c-cable-1m-basic",
        "USB-C Cable 1 m (Basic)",
        "Voltline Basics",
        "cables",
        599,
        4.1,
        187,
        "No-frills USB-C to USB-C cable for everyday charging. Our lowest price USB-C cable.",
        (("Length", "1 m"), ("Power", "60 W"), ("Data", "USB 2.0, 480 Mbps")),
    ),
    _P(
        "usb-c-cable-240w-2m",
        "USB-C Cable 240 W, 2 m",
        "Kestrel",
        "cables",
        2499,
        4.8,
        341,
        "Extended Power Range USB-C cable with an e-marker chip for laptops up to 240 W.",
        (("Length", "2 m"), ("Power", "240 W"), ("Data", "USB 2.0, 480 Mbps")),
    ),
    _P(
        "thunderbolt-4-usb-c-cable",
        "Thunderbolt 4 USB-C Cable 0.8 m",
        "Kestrel",
        "cables",
        3999,
        4.7,
        198,
        "Certified Thunderbolt 4 cable: 40 Gbps data, 100 W charging, 8K display support.",
        (("Length", "0.8 m"), ("Power", "100 W"), ("Data", "40 Gbps")),
    ),
    _P(
        "usb-c-to-lightning-cable",
        "USB-C to Lightning Cable 1 m",
        "Anchorline",
        "cables",
        1499,
        4.5,
        967,
        "MFi-certified cable for fast-charging iPhone and AirPods from a USB-C charger.",
        (("Length", "1 m"), ("Connector", "USB-C to Lightning")),
    ),
    _P(
        "usb-a-to-usb-c-cable-3pack",
        "USB-A to USB-C Cable (3-pack)",
        "Voltline Basics",
        "cables",
        999,
        4.3,
        1520,
        "Three 1 m cables to connect USB-C phones to older USB-A chargers and computers.",
        (("Length", "3 x 1 m"), ("Connector", "USB-A to USB-C")),
    ),
    _P(
        "usb-c-right-angle-cable",
        "Right-Angle USB-C Cable 1.5 m",
        "Pulsewire",
        "cables",
        899,
        4.2,
        233,
        "90-degree USB-C plug that keeps the cable flat while gaming or charging in the car.",
        (("Length", "1.5 m"), ("Power", "60 W")),
    ),
    _P(
        "hdmi-2-1-cable",
        "Ultra High Speed HDMI 2.1 Cable 2 m",
        "Pulsewire",
        "cables",
        1899,
        4.6,
        455,
        "48 Gbps HDMI cable for 4K120 and 8K60 gaming and home theatre.",
        (("Length", "2 m"), ("Bandwidth", "48 Gbps")),
    ),
    _P(
        "usb-c-mini-adapter",
        "USB-C to USB-A Mini Adapter",
        "Voltline Basics",
        "accessories",
        399,
        4.0,
        611,
        "Tiny adapter to plug USB-A sticks into USB-C laptops.",
        (("Connector", "USB-C male to USB-A female"),),
    ),
    # --- chargers -----------------------------------------------------------------
    _P(
        "gan-charger-65w",
        "65 W GaN USB-C Charger",
        "Anchorline",
        "chargers",
        4499,
        4.8,
        1288,
        "Compact gallium-nitride charger with two USB-C ports and one USB-A port.",
        (("Output", "65 W max"), ("Ports", "2 x USB-C, 1 x USB-A")),
    ),
    _P(
        "usb-c-charger-20w",
        "20 W USB-C Wall Charger",
        "Voltline Basics",
        "chargers",
        1599,
        4.4,
        3011,
        "Fast-charge most phones to 50% in about 30 minutes.",
        (("Output", "20 W"), ("Ports", "1 x USB-C")),
    ),
    _P(
        "car-charger-dual",
        "Dual-Port Car Charger 48 W",
        "Pulsewire",
        "chargers",
        1999,
        4.3,
        402,
        "Charge two devices from your car's 12 V socket with USB-C Power Delivery.",
        (("Output", "48 W"), ("Ports", "1 x USB-C, 1 x USB-A")),
    ),
    _P(
        "wireless-charging-pad",
        "15 W Wireless Charging Pad",
        "Kestrel",
        "chargers",
        2999,
        4.2,
        764,
        "Qi2 magnetic charging pad with a non-slip base and LED indicator.",
        (("Output", "15 W"), ("Standard", "Qi2")),
    ),
    # --- headphones ----------------------------------------------------------------
    _P(
        "aurora-anc-headphones",
        "Aurora ANC Over-Ear Headphones",
        "Sonique",
        "headphones",
        19999,
        4.7,
        1876,
        "Adaptive noise cancelling, 40-hour battery and multipoint Bluetooth 5.3.",
        (("Battery", "40 h"), ("Bluetooth", "5.3"), ("Weight", "254 g")),
    ),
    _P(
        "pebble-true-wireless-earbuds",
        "Pebble True Wireless Earbuds",
        "Sonique",
        "headphones",
        7999,
        4.4,
        2210,
        "Pocketable earbuds with IPX4 splash resistance and a wireless charging case.",
        (("Battery", "7 h + 21 h case"), ("Water resistance", "IPX4")),
    ),
    _P(
        "studio-monitor-headphones",
        "Studio Monitor Headphones (Wired)",
        "Arcwave",
        "headphones",
        9999,
        4.6,
        512,
        "Flat-response closed-back headphones for mixing and podcasting.",
        (("Impedance", "38 ohm"), ("Cable", "3 m coiled")),
    ),
    _P(
        "kids-volume-limited-headphones",
        "Kids' Volume-Limited Headphones",
        "Arcwave",
        "headphones",
        2499,
        4.3,
        690,
        "85 dB volume cap, bendable headband and a built-in sharing port.",
        (("Max volume", "85 dB"),),
    ),
    # --- speakers ----------------------------------------------------------------
    _P(
        "boom-mini-speaker",
        "Boom Mini Bluetooth Speaker",
        "Sonique",
        "speakers",
        4999,
        4.5,
        1433,
        "Waterproof IP67 speaker with 12-hour battery and a detachable strap.",
        (("Battery", "12 h"), ("Water resistance", "IP67")),
    ),
    _P(
        "hearth-smart-speaker",
        "Hearth Smart Speaker",
        "Arcwave",
        "speakers",
        12999,
        4.4,
        388,
        "Room-filling sound with Wi-Fi multiroom and voice assistant support.",
        (("Connectivity", "Wi-Fi, Bluetooth 5.2"),),
    ),
    _P(
        "soundbar-2-1",
        "Cinema 2.1 Soundbar with Subwoofer",
        "Arcwave",
        "speakers",
        24999,
        4.6,
        276,
        "HDMI eARC soundbar with wireless subwoofer and Dolby Atmos virtualisation.",
        (("Channels", "2.1"), ("Inputs", "HDMI eARC, optical, Bluetooth")),
    ),
    # --- power banks ----------------------------------------------------------------
    _P(
        "power-bank-10000",
        "Slim Power Bank 10,000 mAh",
        "Anchorline",
        "power-banks",
        2999,
        4.5,
        2650,
        "Credit-card-sized battery with 20 W USB-C Power Delivery.",
        (("Capacity", "10,000 mAh"), ("Output", "20 W")),
    ),
    _P(
        "power-bank-26800-laptop",
        "Laptop Power Bank 26,800 mAh",
        "Kestrel",
        "power-banks",
        8999,
        4.7,
        640,
        "Charges a laptop at 100 W; airline-safe capacity with a built-in display.",
        (("Capacity", "26,800 mAh"), ("Output", "100 W")),
    ),
    _P(
        "magnetic-power-bank",
        "Magnetic Power Bank 5,000 mAh",
        "Pulsewire",
        "power-banks",
        3499,
        4.1,
        905,
        "Snaps to the back of your phone for wireless top-ups on the go.",
        (("Capacity", "5,000 mAh"), ("Output", "7.5 W wireless")),
    ),
    # --- accessories ----------------------------------------------------------------
    _P(
        "usb-c-hub-7in1",
        "7-in-1 USB-C Hub",
        "Kestrel",
        "accessories",
        3999,
        4.5,
        1120,
        "HDMI 4K60, 100 W pass-through, SD card reader and three USB-A ports.",
        (("Ports", "HDMI, 3 x USB-A, SD, microSD, USB-C PD"),),
    ),
    _P(
        "wireless-mouse",
        "Silent Wireless Mouse",
        "Voltline Basics",
        "accessories",
        1999,
        4.3,
        1788,
        "Quiet clicks, 2.4 GHz receiver and an 18-month battery life.",
        (("Battery", "1 x AA"), ("DPI", "800-1600")),
    ),
    _P(
        "mechanical-keyboard-tkl",
        "Tenkeyless Mechanical Keyboard",
        "Arcwave",
        "accessories",
        8999,
        4.6,
        497,
        "Hot-swappable switches, PBT keycaps and USB-C connection.",
        (("Layout", "TKL, US ANSI"), ("Switches", "Tactile brown")),
        in_stock=False,
    ),
)
