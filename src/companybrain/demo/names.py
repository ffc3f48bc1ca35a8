"""Name pools for people and companies of the demo, and vectorized name/email/phone builders."""

from __future__ import annotations

import numpy as np

from companybrain.demo.common import group_rank

FIRST = {
    "en": "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara "
    "Richard Susan Joseph Jessica Thomas Sarah Chris Karen Daniel Nancy Matthew Lisa Anthony "
    "Emily Mark Ashley Steven Megan Kevin Rachel Brian Laura Ryan Amy",
    "it": "Marco Giulia Luca Francesca Andrea Chiara Matteo Sara Alessandro Valentina Davide "
    "Elena Simone Federica Lorenzo Martina Stefano Silvia Paolo Alessia Giorgio Laura Fabio Anna",
    "es": "Jose Maria Juan Guadalupe Luis Ana Carlos Sofia Jorge Fernanda Miguel Daniela Pedro "
    "Valeria Alejandro Gabriela Ricardo Mariana Fernando Paula Diego Lucia Javier Carmen",
    "pt": "Joao Ana Pedro Mariana Lucas Beatriz Gabriel Juliana Rafael Camila Mateus Larissa "
    "Felipe Leticia Bruno Amanda Gustavo Fernanda Thiago Patricia Rodrigo Carolina",
    "zh": "Wei Fang Jing Min Lei Yan Jun Li Hao Xin Tao Ying Qiang Hui Bo Na Chen Lin Yong Mei Gang Xia Peng Jie",
    "in": "Aarav Priya Rahul Ananya Vikram Sneha Arjun Pooja Rohan Kavya Amit Neha Sanjay Divya "
    "Karan Meera Nikhil Shreya Rajesh Anjali Suresh Deepa Manish Isha",
    "pl": "Piotr Anna Krzysztof Maria Tomasz Katarzyna Pawel Agnieszka Marcin Magdalena Michal "
    "Joanna Lukasz Monika Jakub Ewa Adam Aleksandra Marek Natalia",
    "de": "Lukas Anna Felix Laura Jonas Lea Maximilian Sophie Leon Hannah Paul Julia Tobias "
    "Katrin Stefan Sabine Florian Nina Jan Marie",
    "fr": "Louis Camille Hugo Chloe Lucas Manon Thomas Ines Nicolas Julie Antoine Claire Pierre "
    "Sophie Julien Emma Mathieu Lea",
    "ja": "Haruto Yui Sota Aoi Ren Hina Yuto Sakura Kenji Yuki Takeshi Akiko Hiroshi Naomi Daiki Emi",
    "ko": "Minjun Seoyeon Jihoon Jiwoo Hyunwoo Soyeon Dongha Yuna Jaewon Eunji Sungmin Hayoon",
    "vi": "Minh Lan Huy Mai Tuan Linh Duc Hoa Nam Thao Khoa Trang",
}
LAST = {
    "en": "Smith Johnson Williams Brown Jones Miller Davis Wilson Anderson Taylor Thomas Moore "
    "Martin Jackson Thompson White Harris Clark Lewis Walker Young Allen King Wright Scott Green "
    "Baker Adams Nelson Hill Campbell Mitchell Roberts Carter Phillips Evans",
    "it": "Rossi Russo Ferrari Esposito Bianchi Romano Colombo Ricci Marino Greco Bruno Gallo "
    "Conti DeLuca Mancini Costa Giordano Rizzo Lombardi Moretti Barbieri Fontana",
    "es": "Hernandez Garcia Martinez Lopez Gonzalez Perez Rodriguez Sanchez Ramirez Cruz Flores "
    "Gomez Morales Vazquez Reyes Jimenez Torres Diaz Gutierrez Ruiz Mendoza Aguilar",
    "pt": "Silva Santos Oliveira Souza Rodrigues Ferreira Alves Pereira Lima Gomes Costa Ribeiro "
    "Martins Carvalho Almeida Lopes Soares Fernandes Vieira Barbosa",
    "zh": "Wang Li Zhang Liu Chen Yang Huang Zhao Wu Zhou Xu Sun Ma Zhu Hu Guo He Lin Gao Luo",
    "in": "Sharma Patel Singh Kumar Gupta Reddy Iyer Nair Joshi Mehta Desai Rao Shah Verma Kulkarni "
    "Chopra Bose Menon Pillai Agarwal",
    "pl": "Nowak Kowalski Wisniewski Wojcik Kowalczyk Kaminski Lewandowski Zielinski Szymanski "
    "Wozniak Dabrowski Kozlowski Jankowski Mazur Kwiatkowski Krawczyk",
    "de": "Muller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Koch Richter "
    "Klein Wolf Schroder Neumann",
    "fr": "Martin Bernard Dubois Thomas Robert Richard Petit Durand Leroy Moreau Simon Laurent "
    "Lefebvre Michel Garcia David",
    "ja": "Sato Suzuki Takahashi Tanaka Watanabe Ito Yamamoto Nakamura Kobayashi Kato Yoshida Yamada",
    "ko": "Kim Lee Park Choi Jung Kang Cho Yoon Jang Lim",
    "vi": "Nguyen Tran Le Pham Hoang Phan Vu Dang Bui Do",
}
COUNTRY_CULTURE = {
    "US": "en",
    "CA": "en",
    "GB": "en",
    "AU": "en",
    "SG": "zh",
    "IT": "it",
    "MX": "es",
    "ES": "es",
    "AR": "es",
    "CL": "es",
    "CO": "es",
    "BR": "pt",
    "CN": "zh",
    "TW": "zh",
    "IN": "in",
    "PL": "pl",
    "DE": "de",
    "NL": "de",
    "SE": "de",
    "FR": "fr",
    "JP": "ja",
    "KR": "ko",
    "VN": "vi",
    "TH": "vi",
    "MY": "zh",
}
PHONE_PREFIX = {
    "US": "+1",
    "CA": "+1",
    "GB": "+44",
    "AU": "+61",
    "SG": "+65",
    "IT": "+39",
    "MX": "+52",
    "ES": "+34",
    "AR": "+54",
    "CL": "+56",
    "CO": "+57",
    "BR": "+55",
    "CN": "+86",
    "TW": "+886",
    "IN": "+91",
    "PL": "+48",
    "DE": "+49",
    "NL": "+31",
    "SE": "+46",
    "FR": "+33",
    "JP": "+81",
    "KR": "+82",
    "VN": "+84",
    "TH": "+66",
    "MY": "+60",
}
COMPANY_PREFIX = [
    "Northwind",
    "Apex",
    "Blue-River",
    "Summit",
    "Ironclad",
    "Keystone",
    "Redwood",
    "Granite",
    "Meridian",
    "Silverline",
    "Harbor",
    "Pioneer",
    "Vanguard",
    "Crescent",
    "Falcon",
    "Horizon",
    "Atlas",
    "Cobalt",
    "Evergreen",
    "Frontier",
    "Lakeside",
    "Prairie",
    "Titan",
    "Orion",
    "Sterling",
    "Beacon",
    "Cedar",
    "Delta",
    "Eastgate",
    "Westfield",
    "Northstar",
    "Highland",
    "Riverside",
    "Oakridge",
    "Pinnacle",
    "Zenith",
    "Sequoia",
    "Bluewater",
    "Copperfield",
    "Ridgeway",
    "Stonebridge",
    "Greenfield",
    "Brightwater",
    "Goldcrest",
    "Irongate",
    "Maple",
    "Silverado",
    "Clearwater",
    "Fairview",
    "Rockport",
    "Sunrise",
    "Tristar",
    "Unity",
    "Vector",
    "Wolverine",
    "Alpine",
    "Baltic",
    "Cascade",
    "Dynamo",
    "Emerald",
    "Fortis",
    "Galaxy",
    "Helios",
    "Indigo",
    "Jupiter",
    "Kestrel",
    "Lumen",
    "Magna",
    "Nova",
    "Omega",
    "Polaris",
    "Quantum",
    "Radiant",
    "Solaris",
    "Terra",
    "Ultra",
    "Vertex",
    "Windsor",
    "Xenon",
    "Yukon",
    "Zephyr",
    "Arrow",
    "Bison",
    "Condor",
    "Drake",
    "Eagle",
    "Fjord",
    "Glacier",
    "Hawk",
    "Ibis",
    "Jaguar",
    "Koala",
    "Lynx",
    "Mustang",
    "Nimbus",
    "Osprey",
    "Puma",
    "Quarry",
    "Raven",
    "Sable",
    "Tundra",
    "Umber",
    "Valor",
    "Willow",
    "Yarrow",
    "Amber",
    "Birch",
    "Canyon",
    "Dune",
    "Ember",
    "Flint",
    "Grove",
    "Heron",
    "Iris",
    "Juniper",
    "Kodiak",
    "Laurel",
    "Mesa",
    "Neptune",
    "Onyx",
    "Pacific",
    "Quartz",
    "Ridge",
    "Sierra",
    "Tidewater",
    "Upland",
    "Vista",
    "Wildcat",
    "Aurora",
    "Boulder",
    "Caliber",
    "Dominion",
    "Everest",
    "Foundry",
    "Gateway",
    "Hallmark",
    "Ironwood",
    "Jetstream",
]
COMPANY_CORE = [
    "Fluid-Systems",
    "Packaging",
    "Mining",
    "Energy",
    "Machinery",
    "Automation",
    "Foods",
    "Chemicals",
    "Metals",
    "Plastics",
    "Paper",
    "Logistics",
    "Water-Works",
    "Agritech",
    "Construction",
    "Marine",
    "Rail",
    "Aerospace",
    "Textiles",
    "Pharma",
    "Beverages",
    "Cement",
    "Glass",
    "Steel",
    "Power",
    "Oil-&-Gas",
    "HVAC",
    "Robotics",
    "Tooling",
    "Components",
    "Industries",
    "Engineering",
    "Equipment",
    "Process-Solutions",
    "Utilities",
    "Motion",
    "Controls",
    "Materials",
    "Fabrication",
    "Hydraulics",
    "Pneumatics",
    "Castings",
    "Forge",
    "Electric",
    "Technologies",
    "Manufacturing",
    "Supply",
    "Trading",
    "Services",
    "Group",
    "Holdings",
    "Works",
    "Systems",
    "Partners",
    "Dynamics",
    "Instruments",
    "Precision",
]
LEGAL_SUFFIX = {
    "US": "Inc.",
    "CA": "Ltd.",
    "GB": "Ltd.",
    "AU": "Pty Ltd",
    "SG": "Pte. Ltd.",
    "IT": "S.p.A.",
    "MX": "S.A. de C.V.",
    "ES": "S.L.",
    "AR": "S.A.",
    "CL": "S.A.",
    "CO": "S.A.S.",
    "BR": "Ltda.",
    "CN": "Co., Ltd.",
    "TW": "Co., Ltd.",
    "IN": "Pvt. Ltd.",
    "PL": "Sp. z o.o.",
    "DE": "GmbH",
    "NL": "B.V.",
    "SE": "AB",
    "FR": "SAS",
    "JP": "K.K.",
    "KR": "Co., Ltd.",
    "VN": "JSC",
    "TH": "Co., Ltd.",
    "MY": "Sdn. Bhd.",
}


def person_names(rng: np.random.Generator, countries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last names drawn from the name pool of each person's country."""
    n = len(countries)
    first = np.empty(n, dtype=object)
    last = np.empty(n, dtype=object)
    cultures = np.array([COUNTRY_CULTURE.get(c, "en") for c in countries])
    for culture in sorted(set(cultures.tolist())):
        mask = cultures == culture
        firsts = np.array(FIRST[culture].split(), dtype=object)
        lasts = np.array(LAST[culture].split(), dtype=object)
        first[mask] = firsts[rng.integers(0, len(firsts), mask.sum())]
        last[mask] = lasts[rng.integers(0, len(lasts), mask.sum())]
    return first, last


def emails(first: np.ndarray, last: np.ndarray, domains: np.ndarray | str) -> np.ndarray:
    """first.last@domain, made unique per domain with a number suffix (anna.rossi2@...)."""
    local = np.char.lower(np.char.add(np.char.add(first.astype(str), "."), last.astype(str)))
    domains = np.broadcast_to(np.asarray(domains, dtype=str), local.shape)
    full = np.char.add(np.char.add(local, "@"), domains)
    _, inverse = np.unique(full, return_inverse=True)
    rank = group_rank(inverse)
    suffix = np.where(rank > 0, (rank + 1).astype(str), "")
    return np.char.add(np.char.add(np.char.add(local, suffix), "@"), domains).astype(object)


def phones(rng: np.random.Generator, countries: np.ndarray) -> np.ndarray:
    """Plausible international phone numbers (+39 051 555 0123); 555 marks them as fictional."""
    prefix = np.array([PHONE_PREFIX.get(c, "+1") for c in countries])
    area = rng.integers(100, 999, len(countries)).astype(str)
    tail = np.char.zfill(rng.integers(0, 10_000, len(countries)).astype(str), 4)
    out = np.char.add(np.char.add(np.char.add(np.char.add(prefix, " "), area), " 555 "), tail)
    return out.astype(object)


def company_name_space() -> int:
    """How many distinct company names company_names can produce."""
    return len(COMPANY_PREFIX) * len(COMPANY_CORE)


def company_names(rng: np.random.Generator, countries: np.ndarray, taken: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unique company names and web domains; `taken` skips combinations used by an earlier call."""
    n = len(countries)
    space = len(COMPANY_PREFIX) * len(COMPANY_CORE)
    if taken + n > space:
        raise ValueError(f"only {space} company names available, asked for {taken + n}")
    # a fixed permutation of the whole name space, so two calls never reuse a combination
    combos = np.random.default_rng(1729).permutation(space)[taken : taken + n]
    combos = combos[rng.permutation(n)]
    prefix = np.array(COMPANY_PREFIX)[combos // len(COMPANY_CORE)]
    core = np.array(COMPANY_CORE)[combos % len(COMPANY_CORE)]
    suffix = np.array([LEGAL_SUFFIX.get(c, "Ltd.") for c in countries])
    name = np.char.add(np.char.add(np.char.add(np.char.add(prefix, " "), core), " "), suffix)
    stem = np.char.lower(np.char.add(np.char.add(prefix, "-"), core))
    domain = np.char.add(np.char.replace(stem, "&", "and"), ".example")
    return np.char.replace(name, "-", " ").astype(object), domain.astype(object)
