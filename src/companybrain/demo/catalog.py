"""The fixed facts of Acme Industrial: sites, product families (with their true price
elasticities), component categories, supplier countries and machine types."""

from __future__ import annotations

# Tables of constants read better one row per line than as the formatter would spread them.
# fmt: off

# id, name, city, country, region, local currency, labour USD/h, overhead per labour hour (USD),
# number of lines, families made, share of headcount, latitude, longitude
SITES = [
    ("MKE", "Milwaukee Works", "Milwaukee", "US", "NA", "USD", 38.5, 52.0, 8,
     ("PUMP", "GEAR", "CTRL", "COMP", "MOTOR", "HEX"), 0.20, 43.04, -87.91),
    ("BLQ", "Bologna Plant", "Bologna", "IT", "EMEA", "EUR", 34.0, 44.0, 6,
     ("GEAR", "VALVE", "ACT", "PUMP", "HEX"), 0.12, 44.49, 11.34),
    ("MTY", "Monterrey Plant", "Monterrey", "MX", "NA", "MXN", 9.5, 14.0, 7,
     ("MOTOR", "CONV", "BEAR", "ACT", "FILT"), 0.15, 25.69, -100.32),
    ("SZV", "Suzhou Plant", "Suzhou", "CN", "APAC", "CNY", 8.0, 11.5, 8,
     ("MOTOR", "BEAR", "VALVE", "SENS", "FILT", "CONV"), 0.16, 31.30, 120.59),
    ("PNQ", "Pune Plant", "Pune", "IN", "APAC", "INR", 5.5, 8.0, 6,
     ("VALVE", "PUMP", "SENS", "FILT"), 0.12, 18.52, 73.86),
    ("WRO", "Wroclaw Plant", "Wroclaw", "PL", "EMEA", "PLN", 14.0, 19.0, 5,
     ("CONV", "ACT", "CTRL", "BEAR"), 0.09, 51.11, 17.04),
    ("CWB", "Curitiba Plant", "Curitiba", "BR", "LATAM", "BRL", 8.5, 12.0, 4,
     ("PUMP", "MOTOR", "FILT"), 0.07, -25.43, -49.27),
    ("GSP", "Greenville Plant", "Greenville", "US", "NA", "USD", 33.0, 47.0, 5,
     ("COMP", "HEX", "CTRL", "SENS"), 0.09, 34.85, -82.40),
]

# id, name, singular, price elasticity (ground truth), list price range USD, labour h/unit,
# typical units per order line, components per product, share of SKUs, yearly warranty claim rate
FAMILIES = [
    ("PUMP", "Hydraulic Pumps", "Hydraulic Pump", -1.2, 800, 4000, 3.0, 4, (6, 12), 0.10, 0.012),
    ("GEAR", "Gearboxes", "Gearbox", -0.8, 1500, 9000, 5.5, 2, (8, 14), 0.07, 0.010),
    ("MOTOR", "Electric Motors", "Electric Motor", -1.6, 300, 2500, 2.0, 6, (5, 10), 0.10, 0.008),
    ("VALVE", "Industrial Valves", "Valve", -2.1, 80, 900, 0.6, 20, (4, 8), 0.12, 0.006),
    ("COMP", "Compressors", "Compressor", -0.9, 3000, 15000, 8.0, 1, (10, 16), 0.05, 0.015),
    ("CONV", "Conveyor Modules", "Conveyor Module", -1.4, 1200, 6000, 4.0, 3, (6, 12), 0.07, 0.007),
    ("BEAR", "Bearings", "Bearing", -2.6, 15, 200, 0.15, 60, (2, 5), 0.12, 0.004),
    ("CTRL", "Control Panels", "Control Panel", -0.7, 2000, 12000, 6.0, 1, (8, 15), 0.05, 0.009),
    ("ACT", "Actuators", "Actuator", -1.8, 150, 1500, 1.0, 10, (4, 9), 0.09, 0.009),
    ("FILT", "Filtration Units", "Filtration Unit", -2.3, 40, 600, 0.4, 25, (3, 7), 0.10, 0.005),
    ("HEX", "Heat Exchangers", "Heat Exchanger", -1.0, 2500, 11000, 7.0, 1, (6, 12), 0.05, 0.008),
    ("SENS", "Sensor Kits", "Sensor Kit", -1.9, 60, 700, 0.3, 15, (3, 7), 0.08, 0.011),
]

# name, relative cost, typical qty per product
COMPONENT_CATEGORIES = [
    ("Casting", 3.0, 1), ("Machined shaft", 1.5, 1), ("Bearing", 0.6, 2), ("Seal kit", 0.3, 1),
    ("Fastener set", 0.08, 6), ("Gear set", 2.2, 1), ("Motor winding", 2.5, 1),
    ("PCB assembly", 1.8, 1), ("Sensor", 0.9, 1), ("Housing", 2.0, 1), ("Valve body", 1.4, 1),
    ("Hose assembly", 0.5, 2), ("Filter media", 0.2, 2), ("Enclosure", 1.6, 1),
    ("Cable harness", 0.4, 2), ("Gasket", 0.05, 4), ("Spring", 0.04, 4), ("Packaging", 0.1, 1),
]
SHARED_CATEGORIES = {"Fastener set", "Seal kit", "Gasket", "Spring", "Packaging", "Cable harness"}

# Suppliers: most in Asia (country, weight, lead time range in days)
SUPPLIER_COUNTRIES = [
    ("CN", 0.28, (40, 75)), ("IN", 0.12, (35, 65)), ("VN", 0.08, (40, 70)),
    ("TW", 0.07, (35, 60)), ("KR", 0.05, (30, 55)), ("JP", 0.04, (30, 50)), ("TH", 0.04, (35, 60)),
    ("MY", 0.03, (35, 60)), ("DE", 0.08, (10, 25)), ("IT", 0.05, (10, 25)), ("US", 0.07, (7, 20)),
    ("MX", 0.05, (10, 25)), ("PL", 0.04, (10, 20)),
]
SUPPLIER_REGION = {"DE": "EMEA", "IT": "EMEA", "PL": "EMEA", "US": "NA", "MX": "NA"}
DELAYED_SUPPLIER_INDEX = 3  # the planted supplier whose delays grow (see ground_truth)
DELAYED_SUPPLIER_NAME = "Jiangsu Hengli Precision Castings Co., Ltd."

# type, base temperature C, base vibration mm/s, base pressure bar, rated kW, yearly failures
MACHINE_TYPES = [
    ("CNC Lathe", 48.0, 2.2, 6.0, 22.0, 2.5),
    ("CNC Mill", 50.0, 2.6, 6.0, 30.0, 2.8),
    ("Hydraulic Press", 55.0, 3.4, 180.0, 75.0, 3.0),
    ("Robotic Welder", 62.0, 1.8, 5.5, 18.0, 2.0),
    ("Assembly Cell", 38.0, 1.2, 6.5, 8.0, 1.5),
    ("Test Bench", 42.0, 1.5, 10.0, 12.0, 1.2),
    ("Injection Molder", 68.0, 2.0, 140.0, 55.0, 2.6),
    ("Heat Treatment Oven", 85.0, 0.9, 1.2, 90.0, 1.8),
    ("Conveyor Drive", 40.0, 3.0, 1.0, 7.5, 2.2),
]
MANUFACTURERS = ["Mazak", "DMG Mori", "Fanuc", "ABB", "KUKA", "Trumpf", "Haas", "Okuma", "Bosch Rexroth", "Siemens"]
# fmt: on
