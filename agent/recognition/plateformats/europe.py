"""The plates a Belgian roadside camera sees: EU/EEA, UK, CH, the Western Balkans, UA, TR.

Every country lists its series still on the road (current and common older
ones), each with its share, syntax, look and the sources its rules come from.
Shares are rough fleet estimates, for sampling; "(unc.)" in a note marks a rule
the sources do not settle. Codes are the international distinguishing signs.
"""

from __future__ import annotations

from agent.recognition.plateformats.model import LETTERS, CodeList, Country, Format

__all__ = ["BELGIAN_TRAFFIC", "EUROPE", "IE_COUNTY_NAMES"]


def _wiki(title: str) -> str:
    return f"https://en.wikipedia.org/wiki/Vehicle_registration_plates_of_{title}"


def _minus(excluded: str, base: str = LETTERS) -> str:
    return "".join(c for c in base if c not in excluded)


def _codes(text: str, *, complete: bool = True, syntax: str = "") -> CodeList:
    return CodeList(tuple(text.split()), complete, syntax)


_WHITE = ((1.0, "white", "black"),)
_YELLOW = ((1.0, "yellow", "black"),)

# --- Belgium -----------------------------------------------------------------------
_B = Country(
    "B",
    "Belgium",
    formats=(
        Format(
            "2010",
            # First character: 1, 2 since 2021; 3-7 rare, 8 international, 9 personalised;
            # since 2014 a category letter may stand there (T taxi, O oldtimer, G tractor,
            # M/W motorcycle, Q trailer). Repeats weight the draw.
            "[111223789TOGMQ]-LLL-DDD",
            0.75,
            since="2010-11",
            two_line=2,
            two_share=0.02,
            colours=((1.0, "white", "ruby"),),
            font="any",
            note="ruby (RAL 3003) characters, printed dashes; square plates rare",
        ),
        Format(
            "1973",
            "LLL-DDD",
            0.15,
            since="1973-2008",
            colours=((1.0, "white", "ruby"),),
            font="any",
        ),
        Format(
            "2008",
            "DDD-LLL",
            0.10,
            since="2008-2010",
            colours=((1.0, "white", "ruby"),),
            font="any",
        ),
    ),
    sources=(
        _wiki("Belgium"),
        "http://pj-web.de/kfz/mehr/m_belgien.htm",
        "shared/PLATES.md (Belgium)",
    ),
    note="front plates are owner-made and carry the EU band even on the older series",
)

# --- Netherlands ------------------------------------------------------------------
_NL_CLASSIC = ((0.5, "yellow", "black"), (0.5, "blue", "white"))
_NL = Country(
    "NL",
    "Netherlands",
    letters="BDFGHJKLNPRSTVXZ",
    formats=(
        Format("sidecode 1", "LL-DD-DD", 0.01, since="1951", colours=_NL_CLASSIC, font="nl"),
        Format("sidecode 2", "DD-DD-LL", 0.01, since="1965", colours=_NL_CLASSIC, font="nl"),
        Format("sidecode 3", "DD-LL-DD", 0.02, since="1973", colours=_NL_CLASSIC, font="nl"),
        Format("sidecode 4", "LL-DD-LL", 0.04, since="1978", colours=_YELLOW, font="nl"),
        Format("sidecode 5", "LL-LL-DD", 0.07, since="1991", colours=_YELLOW, font="nl"),
        Format("sidecode 6", "DD-LL-LL", 0.10, since="1999", colours=_YELLOW, font="nl"),
        Format("sidecode 7", "DD-LLL-D", 0.14, since="2005", colours=_YELLOW, font="nl"),
        Format("sidecode 8", "D-LLL-DD", 0.14, since="2013", colours=_YELLOW, font="nl"),
        Format(
            "sidecode 9",
            "LL-DDD-L",
            0.18,
            since="2015",
            colours=_YELLOW,
            font="nl",
            two_line=2,
            two_share=0.02,
        ),
        Format(
            "sidecode 10",
            "L-DDD-LL",
            0.19,
            since="2019",
            colours=_YELLOW,
            font="nl",
            two_line=2,
            two_share=0.02,
        ),
        Format("sidecode 11", "LLL-DD-L", 0.10, since="2024", colours=_YELLOW, font="nl"),
    ),
    sources=(
        _wiki("the_Netherlands"),
        "https://sander.science/index.php/tag/sidecode/",
        "https://www.raivereniging.nl/nieuws/nieuwsberichten/2014-q2/0403-nieuwe-sidecodes-en-wijzigingen-regeling-kentekens.html",
        "https://www.omroepbrabant.nl/nieuws/4484596/nieuwe-kentekenreeks-is-begonnen-maar-psv-is-uitgesloten",
    ),
    note=(
        "no vowels, no C (looks like 0) or Q since sidecode 4; the letters of sidecodes 1-3 are"
        " taken to be the same (unc.); sidecodes 12-14 (L-DD-LLL, D-LL-DDD, DDD-LL-D) are"
        " reserved, not yet issued; pre-1978 cars may carry white-on-blue plates"
    ),
)

# --- France -----------------------------------------------------------------------
_DEPTS = " ".join(
    [f"{d:02d}" for d in range(1, 96)] + ["2A", "2B"] + [f"97{d}" for d in range(1, 7)]
)
_F = Country(
    "F",
    "France",
    formats=(
        Format(
            "SIV",
            "LL-DDD-LL",
            0.55,
            since="2009",
            letters=_minus("IOU"),
            two_line=1,
            two_share=0.08,
            font="fr",
            right="fr",
            note="no I, O, U; no SS; right band with the département and region logo",
        ),
        Format(
            "FNI",
            "ND{0,3} L{1,3} {dept}",
            0.45,
            since="1950-2009",
            two_line=2,
            two_share=0.08,
            colours=((0.4, "yellow", "black"), (0.4, "white", "black"), (0.2, "black", "silver")),
            band_share=0.75,
            font="fr",
            note="often printed with hyphens (779-PRA-75); black vintage plates carry no band",
        ),
        Format(
            "W garage",
            "[W]-DDD-LL",
            0.002,
            since="2009",
            letters=_minus("IOU"),
            font="fr",
            right="fr",
            note="trade plates of dealers and garages (certificat W garage), numbered in "
            "their own SIV series; the look is taken as SIV's",
        ),
    ),
    codes={"dept": _codes(_DEPTS)},
    sources=(
        _wiki("France"),
        (
            "arrêté du 9 février 2009 relatif aux modalités d'immatriculation des véhicules"
            " (certificat W garage)"
        ),
        "shared/PLATES.md (France)",
    ),
)

# --- Germany ----------------------------------------------------------------------
_DE_DISTRICTS = _codes(
    "B M HH K F S D HB H L DD N E DO DU BO GE BI MS MG KR AC BN KA MA HD WI MZ SB KS KI HL"
    " ROS SN MD EF PO HAL C LU FR UL A R REG PA IN RO TS GAP OA KE LA FS ED DAH FFB STA MB"
    " BT BA CO HO KU AB MIL SW KT NES LIF KC HAS ERH NM NEA AN WUG DON GZ DLG NU BC RV FN"
    " KN TUT VS RW BL ZAK SIG WT OG EM RA PF CW HN SHA TBB MOS HDH AA GP ES LB WN BB RT OF"
    " GI MR LM LDK FB HG MTK HP DA GG ERB KB HR ESW HEF WM NOM HI PE SZ WF BS GF HE CE UE"
    " LG STD CUX OHZ VER DH NI SHG HM LIP MI HF GT PB HX SO UN HAM COE BOR ST WAF RE EN ME"
    " VIE NE DN EU SU GM OE SI HSK MK AK NR KO MYK AW EMS WW DAU BIT TR WIL BKS KH AZ WO PS"
    " KL KIB KUS LD GER SP NW FT HOM IGB MZG NK SLS WND SL RD NMS OD RZ HEI IZ NF OH PI SE"
    " P PM BAR UM OHV LOS MOL OSL CB SPN LDS TF HVL BRB OPR PR FF EE HRO LUP VG NB MSE LRO"
    " NWM VR HST J G WE GTH IK NDH EIC KYF UH SM HBN SON SHL SLF SOK SHK ABG GRZ Z FG ERZ"
    " MEI PIR BZ GR TO MTL DZ SK BLK SLK ABI WB DE HZ WR BK SDL JL SAW",
    complete=False,
    syntax="L{1,3}",
)
_D = Country(
    "D",
    "Germany",
    formats=(
        Format(
            "FE (1994)",
            "{district}|seal|L{1,2} ND{0,3}",
            0.88,
            since="1994",
            max_len=8,
            two_line=2,
            two_share=0.03,
            font="fe",
            note="at most 8 characters; seals between district and letters, no hyphen",
        ),
        Format(
            "FE, E or H",
            "{district}|seal|L{1,2} ND{0,2}[EH]",
            0.07,
            since="2011 (H 1997)",
            max_len=8,
            font="fe",
            note="E electric, H historic vehicles",
        ),
        Format(
            "DIN (before 1994)",
            "{district}-L{1,2} ND{0,3}",
            0.05,
            since="1956-2000",
            max_len=8,
            band="none",
            font="din",
            note="DIN 1451 lettering, hyphen after the district, no EU band",
        ),
    ),
    codes={"district": _DE_DISTRICTS},
    sources=(
        _wiki("Germany"),
        "http://www.usautoparts.net/bmw/pl8s/germany.htm",
        "https://licenseplate.store/product-category/europe-license-plate/germany/",
    ),
    note="districts with umlauts (e.g. TÜ, GÖ) are left out: the reader's alphabet is A-Z0-9",
)

# --- Luxembourg -------------------------------------------------------------------
_L = Country(
    "L",
    "Luxembourg",
    formats=(
        Format("2003", "LL DDDD", 0.80, since="2003", colours=_YELLOW, two_line=1, two_share=0.03),
        Format("one letter", "L DDDD", 0.05, colours=_YELLOW),
        Format("two letters, three digits", "LL DDD", 0.08, colours=_YELLOW),
        Format("digits only", "ND{3,4}", 0.07, colours=_YELLOW, note="custom plates"),
    ),
    sources=(
        _wiki("Luxembourg"),
        "https://memim.com/vehicle-registration-plates-of-luxembourg.html",
    ),
)

# --- United Kingdom ---------------------------------------------------------------
_UK_TAGS = " ".join(a + b for a in "ABCDEFGHKLMNOPRSVWY" for b in _minus("IQZ"))
_UK_NI = _codes(
    "AZ BZ CZ DZ EZ FZ GZ HZ IA IB IG IJ IL IW JI JZ KZ LZ MZ NZ OI OZ PZ RZ SZ TZ UI UZ VZ WZ"
    " XI XZ YZ"
)
_UK_COLOURS = ((0.5, "yellow", "black"), (0.5, "white", "black"))
_UK = Country(
    "UK",
    "United Kingdom",
    letters=_minus("IQ"),
    formats=(
        Format(
            "2001",
            "{tag}[0-7]D LLL",
            0.80,
            since="2001-09",
            two_line=1,
            two_share=0.04,
            colours=_UK_COLOURS,
            band="flag",
            band_share=0.25,
            font="uk",
            size=(520, 111),
            note="area tag (no I, Q, Z second), age 02-25/51-75, random part no I, Q",
        ),
        Format(
            "prefix",
            "LND{0,2} LLL",
            0.12,
            since="1983-2001",
            colours=_UK_COLOURS,
            band="none",
            font="uk",
            size=(520, 111),
        ),
        Format(
            "suffix",
            "LLL ND{0,2}L",
            0.02,
            since="1963-1983",
            colours=_UK_COLOURS,
            band="none",
            font="uk",
            size=(520, 111),
        ),
        Format(
            "Northern Ireland",
            "L{ni} ND{0,3}",
            0.06,
            letters=LETTERS,
            colours=_UK_COLOURS,
            band="none",
            font="uk",
            size=(520, 111),
        ),
    ),
    codes={"tag": _codes(_UK_TAGS), "ni": _UK_NI},
    band_code="UK",
    flag=("blue", "white", "red"),
    sources=(
        _wiki("the_United_Kingdom"),
        "https://motorloansrus.co.uk/number-plates/",
        "http://wevalue.it/number-plates.php",
    ),
    note=(
        "Charles Wright 2001 typeface (79 x 50 mm characters); white front, yellow rear;"
        " code UK since 2021-09, GB before"
    ),
)

# --- Ireland ----------------------------------------------------------------------
IE_COUNTY_NAMES = {
    "C": "CORCAIGH",
    "CE": "AN CLAR",
    "CN": "AN CABHAN",
    "CW": "CEATHARLACH",
    "D": "BAILE ATHA CLIATH",
    "DL": "DUN NA NGALL",
    "G": "GAILLIMH",
    "KE": "CILL DARA",
    "KK": "CILL CHAINNIGH",
    "KY": "CIARRAI",
    "L": "LUIMNEACH",
    "LD": "AN LONGFORT",
    "LH": "LU",
    "LM": "LIATROIM",
    "LS": "LAOIS",
    "MH": "AN MHI",
    "MN": "MUINEACHAN",
    "MO": "MAIGH EO",
    "OY": "UIBH FHAILI",
    "RN": "ROS COMAIN",
    "SO": "SLIGEACH",
    "T": "TIOBRAID ARANN",
    "W": "PORT LAIRGE",
    "WH": "AN IARMHI",
    "WX": "LOCH GARMAN",
    "WW": "CILL MHANTAIN",
    "LK": "LUIMNEACH",
    "TN": "TIOBRAID ARANN",
    "TS": "TIOBRAID ARANN",
    "WD": "PORT LAIRGE",
}
_IRL = Country(
    "IRL",
    "Ireland",
    formats=(
        Format(
            "2013",
            "[12]D[12]-{county}-ND{0,5}",
            0.55,
            since="2013",
            two_line=2,
            two_share=0.05,
            font="any",
            top="ie",
            note="year and half year (131 = 2013 January-June), county, serial",
        ),
        Format("1987", "DD-{county}-ND{0,5}", 0.45, since="1987-2012", font="any", top="ie"),
    ),
    codes={"county": _codes(" ".join(IE_COUNTY_NAMES))},
    sources=(
        "https://en.wikipedia.org/wiki/Vehicle_registration_plates_of_the_Republic_of_Ireland",
        "https://extra.ie/2024/07/27/news/license-plate-format",
    ),
    note="no mandated typeface (many makers' fonts); county name in Irish above the number",
)

# --- Spain ------------------------------------------------------------------------
_ES_PROV = _codes(
    "A AB AL AV B BA BI BU C CA CC CE CO CR CS CU GC GE GI GR GU H HU IB J L LE LO LR LU M MA"
    " ML MU NA O OR OU P PM PO S SA SE SG SO SS T TE TF TO V VA VI Z ZA"
)
_E = Country(
    "E",
    "Spain",
    letters=_minus("AEIOUQ"),
    formats=(
        Format(
            "2000",
            "DDDD LLL",
            0.85,
            since="2000-09",
            two_line=1,
            two_share=0.04,
            font="es",
            note="consonants only, no Q (Ñ never used)",
        ),
        Format(
            "provincial",
            "{prov}-DDDD-L{1,2}",
            0.13,
            since="1971-2000",
            letters=_minus("QR"),
            band_share=0.4,
            font="es",
            note="counter letters: Q never, R unused (unc.)",
        ),
        Format(
            "provincial, digits",
            "{prov}-ND{0,5}",
            0.02,
            since="1900-1971",
            band="none",
            font="es",
        ),
    ),
    codes={"prov": _ES_PROV},
    sources=(
        "https://a.osmarks.net/content/wikipedia_en_all_maxi_2020-08/A/Vehicle_registration_plates_of_Spain",
        "https://en-academic.com/dic.nsf/enwiki/1306094",
        "https://wikisum.wiki/wiki/Vehicle_registration_plates_of_Spain",
    ),
)

# --- Portugal ---------------------------------------------------------------------
_P = Country(
    "P",
    "Portugal",
    formats=(
        Format("2020", "LL DD LL", 0.20, since="2020-03", two_line=1, two_share=0.03),
        Format(
            "2005",
            "DD-LL-DD",
            0.35,
            since="2005-2020",
            letters=_minus("KWY"),
            right="pt",
            two_line=1,
            two_share=0.03,
        ),
        Format("1992", "DD-DD-LL", 0.35, since="1992-2005", letters=_minus("KWY"), right="pt"),
        Format(
            "1937",
            "LL-DD-DD",
            0.10,
            since="1937-1992",
            letters=_minus("KWY"),
            colours=((0.5, "black", "white"), (0.5, "white", "black")),
            band_share=0.5,
        ),
    ),
    sources=(_wiki("Portugal"), "https://www.nummerbord.info/andere-landen/portugal"),
    note=(
        "yellow right band with year over month of first registration (1998-2020);"
        " white-on-black plates before 1992"
    ),
)

# --- Italy ------------------------------------------------------------------------
_IT_PROV = _codes(
    "AG AL AN AO AP AQ AR AT AV BA BG BI BL BN BO BR BS BT BZ CA CB CE CH CL CN CO CR CS CT CZ"
    " EN FC FE FG FI FM FR GE GO GR IM IS KR LC LE LI LO LT LU MB MC ME MI MN MO MS MT NA NO"
    " NU OR PA PC PD PE PG PI PN PO PR PT PU PV PZ RA RC RE RG RI RM RN RO SA SI SO SP SR SS"
    " SU SV TA TE TN TO TP TR TS TV UD VA VB VC VE VI VR VT VV",
    complete=False,
    syntax="[A-Z][A-Z]",
)
_I = Country(
    "I",
    "Italy",
    letters=_minus("IOQU"),
    formats=(
        Format(
            "1999",
            "LL DDDLL",
            0.82,
            since="1999-02",
            two_line=1,
            two_share=0.02,
            font="it",
            right="it",
            note="right band: optional year and province stickers",
        ),
        Format("1994", "LL DDD LL", 0.10, since="1994-1999", band="none", font="it"),
        Format(
            "provincial",
            "{prov} AD{5}",
            0.08,
            since="1985-1994",
            letters=LETTERS,
            band="none",
            font="din",
            note="province and six characters (after 999999: A00000...) (unc.)",
        ),
    ),
    codes={"prov": _IT_PROV},
    sources=(
        "https://review.clateway.com/wiki/view_html.php?q=Vehicle_registration_plates_of_Italy",
        "https://skoda-storyboard.com/en/models/deciphering-number-plates-italy",
        "https://gateway.ipfs.io/ipfs/QmXoypizjW3WknFiJnKLwHCnL72vedxjQkDDP1mXWo6uco/wiki/Italian_car_number_plates.html",
    ),
)

# --- Austria ----------------------------------------------------------------------
_AT_DISTRICTS = _codes(
    "W G L K I S E P B AM BA BL BM BN BR BZ DL DO EF EU FB FE FF FK FR GB GD GF GM GR GS GU HA"
    " HB HE HF HL HO IL IM JE JO JU KB KI KL KO KR KS KU LA LB LE LF LI LL LN LZ MA MD ME MI MT"
    " MU MZ ND NK OP OW PE PL PT RA RE RI RO SB SD SE SL SO SP SR ST SV SW SZ TA TU UU VB VI VK"
    " VL VO WB WE WK WL WN WO WT WU WY ZE ZT",
    complete=False,
    syntax="L{1,2}",
)
_A = Country(
    "A",
    "Austria",
    formats=(
        Format(
            "insurer-issued",
            "{district}|arms|ND{0,2} LL",
            0.55,
            since="2000",
            two_line=1,
            two_share=0.05,
            emblem="at",
            frame="at",
        ),
        Format(
            "Vienna, one letter",
            "[W]|arms|ND{0,4} L",
            0.12,
            emblem="at",
            frame="at",
        ),
        Format("Vienna, two letters", "[W]|arms|NDDD LL", 0.08, emblem="at", frame="at"),
        Format(
            "district-issued",
            "{district}|arms|N LLL",
            0.10,
            since="1990-2000",
            emblem="at",
            frame="at",
            band_share=0.6,
        ),
        Format(
            "personalised",
            "{district}|arms|L{2,5} ND?",
            0.15,
            emblem="at",
            frame="at",
            note="letters first, then one or two digits",
        ),
    ),
    codes={"district": _AT_DISTRICTS},
    sources=(
        "https://wikimili.com/en/Vehicle_registration_plates_of_Austria",
        "https://kennzeichen-guide.de/schilder-europas/oesterreich/",
        "http://austria-forum.org/af/AEIOU/Kraftfahrzeugkennzeichen",
    ),
    note=(
        "red-white-red stripes along top and bottom; provincial arms between district and"
        " serial; EU band since 2002-11; DIN-like Austrian typeface"
    ),
)

# --- Switzerland and Liechtenstein ---------------------------------------------------
_CANTONS = _codes("AG AI AR BE BL BS FR GE GL GR JU LU NE NW OW SG SH SO SZ TG TI UR VD VS ZG ZH")
_CH = Country(
    "CH",
    "Switzerland",
    formats=(
        Format(
            "rear",
            "{canton} ND{0,5}",
            0.5,
            since="1972",
            two_line=1,
            two_share=0.45,
            band="none",
            emblem="ends",
            size=(500, 110),
            note="Swiss shield left, cantonal shield right; high rear plates 300x160 two-line",
        ),
        Format("front", "{canton} ND{0,5}", 0.5, band="none", size=(300, 80)),
    ),
    codes={"canton": _CANTONS},
    sources=(
        "https://wikimili.com/en/Vehicle_registration_plates_of_Switzerland",
        "http://plaque.free.fr/eur/ch1e.html",
        "https://kennzeichen-guide.de/schilder-europas/schweiz/",
    ),
)
_FL = Country(
    "FL",
    "Liechtenstein",
    formats=(
        Format(
            "rear",
            "[F][L]|arms|ND{0,4}",
            0.5,
            since="1924",
            two_line=1,
            two_share=0.4,
            colours=((1.0, "black", "white"),),
            band="none",
            emblem="fl",
            size=(500, 110),
        ),
        Format(
            "front",
            "[F][L]|arms|ND{0,4}",
            0.5,
            colours=((1.0, "black", "white"),),
            band="none",
            emblem="fl",
            size=(300, 80),
        ),
    ),
    sources=(
        _wiki("Liechtenstein"),
        "https://memim.com/vehicle-registration-plates-of-liechtenstein.html",
    ),
    note="white on black, Swiss lettering; FL is part of the registration",
)

# --- Poland -----------------------------------------------------------------------
_PL_SERIAL = "ACEFGHJKLMNPRSTUVWXY"  # no B, D, I, O, Z after the gap
_PL_A2 = _codes(
    "WA WB WD WE WF WH WI WJ WK WN WT WU WW WX WY WR DW KR KK KT KN PO PL PN PK GD GA GS LU"
    " LC LZ LB EL ED EP ES SK SB SC SG SJ SL SM SR ST SW SY SZ RZ RK RP RT OP FG FZ NO NE TK"
    " ZS ZK BI BS CB CT CG CW",
    complete=False,
    syntax="[BCDEFGKLNOPRSTWZ][A-Z]",
)
_PL_A3 = _codes(
    "WPI WPR WOT WWL WND WGM WMI DWR KRA KWI KOL PZS PGN PKO GDA GWE GKA LLU LBI ELA EPA"
    " SBI SRB SGL RZE RKR OPO FZG NOS TKI ZST BIA CTR CBY DJA DKL WSC WOS WMA",
    complete=False,
    syntax="[BCDEFGKLNOPRSTWZ][A-Z][A-Z]",
)
_PL_COLOURS = ((0.96, "white", "black"), (0.04, "green", "black"))
_PL = Country(
    "PL",
    "Poland",
    letters=_PL_SERIAL,
    formats=(
        Format(
            "XY 12345",
            "{a2}|holo|DDDDD",
            0.12,
            since="2000",
            two_line=1,
            two_share=0.06,
            colours=_PL_COLOURS,
        ),
        Format(
            "XY 1234A", "{a2}|holo|DDDDL", 0.10, two_line=1, two_share=0.06, colours=_PL_COLOURS
        ),
        Format("XY 123AC", "{a2}|holo|DDDLL", 0.10, colours=_PL_COLOURS),
        Format("XY 1A234", "{a2}|holo|DLDDD", 0.06, colours=_PL_COLOURS),
        Format("XY 1AC34", "{a2}|holo|DLLDD", 0.05, colours=_PL_COLOURS),
        Format("XYZ A123", "{a3}|holo|LDDD", 0.05, two_line=1, two_share=0.06, colours=_PL_COLOURS),
        Format("XYZ 12AC", "{a3}|holo|DDLL", 0.07, colours=_PL_COLOURS),
        Format("XYZ 1A23", "{a3}|holo|DLDD", 0.05, colours=_PL_COLOURS),
        Format("XYZ 12A3", "{a3}|holo|DDLD", 0.05, colours=_PL_COLOURS),
        Format("XYZ 1AC2", "{a3}|holo|DLLD", 0.04, colours=_PL_COLOURS),
        Format("XYZ AC12", "{a3}|holo|LLDD", 0.05, colours=_PL_COLOURS),
        Format(
            "XYZ 12345", "{a3}|holo|DDDDD", 0.09, two_line=1, two_share=0.06, colours=_PL_COLOURS
        ),
        Format("XYZ 1234A", "{a3}|holo|DDDDL", 0.07, colours=_PL_COLOURS),
        Format("XYZ 123AC", "{a3}|holo|DDDLL", 0.06, colours=_PL_COLOURS),
        Format(
            "before 2000",
            "LLL NDDD",
            0.04,
            since="1976-2000",
            letters=LETTERS,
            colours=((1.0, "black", "white"),),
            band="none",
        ),
    ),
    codes={"a2": _PL_A2, "a3": _PL_A3},
    sources=(
        "https://wiki.1209k.com/content/wikipedia_en_all_maxi_2024-01/A/Vehicle_registration_plates_of_Poland",
        "https://wikisum.wiki/wiki/Vehicle_registration_plates_of_Poland",
        "https://crossover-agm.de/Kfz-Kennzeichen_(Polen)",
    ),
    note=(
        "voivodeship letter + 1-2 area letters, hologram sticker, serial without B D I O Z;"
        " light green plates for electric cars since 2020; white on black before 2000"
    ),
)

# --- Czechia and Slovakia ------------------------------------------------------------
_CZ = Country(
    "CZ",
    "Czechia",
    letters=_minus("GOQW"),
    formats=(
        Format(
            "2001",
            "N{region}D|stickers|DDDD",
            0.80,
            since="2001",
            two_line=1,
            two_share=0.05,
        ),
        Format("2009", "N{region}L|stickers|DDDD", 0.16, since="2009 (A, S, B, T regions)"),
        Format(
            "district (before 2001)",
            "L{2,3} DD-DD",
            0.04,
            since="1960-2001",
            letters=_minus("Q"),
            band="none",
        ),
    ),
    codes={"region": _codes("A B C E H J K L M P S T U Z")},
    sources=(
        "http://piglix.com/piglix/Vehicle_registration_plates_of_the_Czech_Republic",
        "https://clever-geek.imtqy.com/articles/1332467/index.html",
        "https://licenseplate.store/product-category/europe-license-plate/czech-republic/",
    ),
    note="region letter second; inspection stickers between the groups on the rear plate",
)
_SK_DISTRICTS = _codes(
    "BA BL BT BB BJ BN BR BS BY CA DK DS DT GA GL HC HE IL KA KE KK KM KN KS LC LE LM LV MA MI"
    " ML MT NM NO NR NZ PB PD PE PK PN PO PP PT PU RA RK RS RV SA SB SC SE SI SK SL SN SO SP SV"
    " TN TO TR TS TT TV VK VT ZA ZC ZH ZM ZV",
    complete=False,
    syntax="LL",
)
_SK = Country(
    "SK",
    "Slovakia",
    formats=(
        Format(
            "2023",
            "LL|arms|DDDLL",
            0.15,
            since="2023",
            two_line=1,
            two_share=0.04,
            emblem="sk",
            note="state-wide letters instead of the district, new font, smaller arms",
        ),
        Format(
            "district, arms",
            "{district}|arms|DDDLL",
            0.62,
            since="2006-2022",
            two_line=1,
            two_share=0.04,
            emblem="sk",
            font="sk",
        ),
        Format(
            "district, dash",
            "{district}-DDDLL",
            0.23,
            since="1997-2006",
            band_share=0.6,
            font="sk",
            note="slashed zero since 2004",
        ),
    ),
    codes={"district": _SK_DISTRICTS},
    sources=(
        "https://www.wikiwand.com/en/Slovak_car_registration_plates",
        "https://profilbaru.com/en/Vehicle_registration_plates_of_Slovakia",
    ),
)

# --- Hungary ----------------------------------------------------------------------
_H = Country(
    "H",
    "Hungary",
    formats=(
        Format(
            "2022",
            "LL|arms|LL-DDD",
            0.15,
            since="2022-07",
            emblem="hu",
            two_line=1,
            two_share=0.03,
            note="first two letters both vowels or both consonants; new typeface",
        ),
        Format(
            "1990", "LLL-DDD", 0.85, since="1990-2022", band_share=0.85, two_line=1, two_share=0.03
        ),
    ),
    sources=(_wiki("Hungary"), "https://wikisum.wiki/wiki/Vehicle_registration_plates_of_Hungary"),
)

# --- Slovenia and Croatia -----------------------------------------------------------
_SLO = Country(
    "SLO",
    "Slovenia",
    formats=(
        Format("letters first", "{region}|arms|LL-DDD", 0.35, emblem="si", frame="si", font="helv"),
        Format(
            "digits first",
            "{region}|arms|DD-DDL",
            0.35,
            emblem="si",
            frame="si",
            font="helv",
            two_line=1,
            two_share=0.04,
        ),
        Format("mixed", "{region}|arms|LD-DDL", 0.30, emblem="si", frame="si", font="helv"),
    ),
    codes={"region": _codes("CE GO KK KP KR LJ MB MS NM PO SG")},
    sources=(
        "https://sivegame.netlify.app/host-https-de.wikipedia.org/w/index.php?section=5&title=Kfz-Kennzeichen_%28Slowenien%29",
        "https://cs.m.wikipedia.org/wiki/St%C3%A1tn%C3%AD_pozn%C3%A1vac%C3%AD_zna%C4%8Dky_ve_Slovinsku",
    ),
    note=(
        "region, municipal arms, a five-character block with a hyphen: the block's series"
        " (LL-DDD, DD-DDL, LD-DDL) are an estimate (unc.); green border, Helvetica"
    ),
)
_HR = Country(
    "HR",
    "Croatia",
    letters=_minus("QWXY"),
    formats=(
        Format(
            "1992",
            "{city}|arms|D{3,4}-L{1,2}",
            1.0,
            since="1992",
            two_line=1,
            two_share=0.05,
            band_share=0.7,
            emblem="hr",
        ),
    ),
    codes={
        "city": _codes(
            "BJ BM DA DE DJ DU GS IM KA KC KR KT MA NA NG OG OS PU PZ RI SB SK SL ST VK VT VU VZ"
            " ZD ZG",
            complete=False,
            syntax="LL",
        )
    },
    sources=(
        "https://wikimili.com/en/Vehicle_registration_plates_of_Croatia",
        "http://en.wikipedia.org/wiki/Vehicle_registration_plates_of_Croatia",
    ),
    note="codes with Č, Đ, Š, Ž (ČK, ĐA, ŠI, VŽ, ŽU) are read as their base letters",
)

# --- Romania and Bulgaria ------------------------------------------------------------
_RO_COUNTIES = (
    "AB AR AG BC BH BN BR BT BV BZ CJ CL CS CT CV DB DJ GJ GL GR HD HR IF IL IS MH MM MS NT OT"
    " PH SB SJ SM SV TL TM TR VL VN VS"
)
_RO = Country(
    "RO",
    "Romania",
    letters=_minus("Q"),
    formats=(
        Format(
            "county",
            "{county} DD [A-HJ-NPR-Z]LL",
            0.75,
            since="1992",
            two_line=1,
            two_share=0.05,
            band_share=0.9,
            right="ro",
        ),
        Format("Bucharest", "[B] D{2,3} [A-HJ-NPR-Z]LL", 0.25, band_share=0.9, right="ro"),
    ),
    codes={"county": _codes(_RO_COUNTIES)},
    sources=(
        "https://wikimili.com/en/Vehicle_registration_plates_of_Romania",
        "https://www.liquisearch.com/vehicle_registration_plates_of_romania",
    ),
    note="no Q; the three letters never start with I or O; round inspection sticker",
)
_BG = Country(
    "BG",
    "Bulgaria",
    letters="ABEKMHPCTX",
    formats=(
        Format(
            "1992",
            "{prov} DDDD LL",
            0.97,
            since="1992",
            two_line=1,
            two_share=0.05,
            band_share=0.85,
        ),
        Format("one series letter", "{prov} DDDD L", 0.03),
    ),
    codes={
        "prov": _codes(
            "A B BH BP BT C CA CB CC CH CM CO CT E EB EH H K KH M OB P PA PB PK PP T TX X Y"
        )
    },
    sources=(
        _wiki("Bulgaria"),
        "http://www.liquisearch.com/vehicle_registration_plates_of_bulgaria",
    ),
    note=(
        "only the 12 letters Cyrillic and Latin share (A B E K M H O P C T Y X);"
        " series without O, Y"
    ),
)

# --- Greece, Cyprus, Malta -----------------------------------------------------------
_GR = Country(
    "GR",
    "Greece",
    letters="ABEZHIKMNOPTYX",
    formats=(
        Format("1983", "LLL-NDDD", 1.0, since="1983", two_line=1, two_share=0.03, band_share=0.9),
    ),
    sources=(
        "https://nzt.eth.link/wiki/License_plates_in_Greece.html",
        "https://athens-times.com/traffic-signs-what-letters-and-which-are-not-used-means/",
    ),
    note="Greek capitals that look Latin only; numbers 1000-9999 (motorcycles 1-999)",
)
_CY = Country(
    "CY",
    "Cyprus",
    letters="ABEHKMNPTXYZ",
    formats=(
        Format(
            "1990",
            "LLL DDD",
            1.0,
            since="1990",
            colours=((0.3, "yellow", "black"), (0.7, "white", "black")),
            font="fe",
            note="yellow rear plates before 2013; FE-Schrift since 2013",
        ),
    ),
    sources=(
        _wiki("Cyprus"),
        "https://domcar.com.cy/en/live/blog/categories-and-types-of-license-plates-in-cyprus/",
    ),
)
_M = Country(
    "M",
    "Malta",
    formats=(Format("1995", "LLL|sticker|DDD", 1.0, since="1995", font="fe"),),
    sources=(
        "https://wikimili.com/en/Vehicle_registration_plates_of_Malta",
        "https://memim.com/vehicle-registration-plates-of-malta.html",
    ),
    note="FE-Schrift; a square sticker between letters and digits",
)

# --- Nordic countries ----------------------------------------------------------------
_DK = Country(
    "DK",
    "Denmark",
    letters=_minus("IQ"),
    formats=(
        Format(
            "1976",
            "LL DD DDD",
            1.0,
            since="1976",
            two_line=1,
            two_share=0.08,
            colours=((0.85, "white", "black"), (0.15, "yellow", "black")),
            band_share=0.6,
            frame="dk",
            note="red border; yellow plates for commercial use; EU band optional (unc. letters)",
        ),
    ),
    sources=(_wiki("Denmark"), "https://wikimili.com/en/Vehicle_registration_plates_of_Denmark"),
)
_S = Country(
    "S",
    "Sweden",
    letters=_minus("IQV"),
    formats=(
        Format("1973", "LLL DDD", 0.80, since="1973", two_line=1, two_share=0.05, band_share=0.9),
        Format(
            "2019",
            "LLL DD[A-HJ-NPR-UW-Z0-9]",
            0.20,
            since="2019",
            band_share=0.9,
            note="last character a digit or a letter (not O)",
        ),
    ),
    sources=(_wiki("Sweden"), "https://wikimili.com/en/Vehicle_registration_plates_of_Sweden"),
)
_N = Country(
    "N",
    "Norway",
    letters=_minus("GIMOQW"),
    formats=(
        Format(
            "1971",
            "LL DDDDD",
            0.97,
            since="1971",
            two_line=1,
            two_share=0.05,
            colours=((0.9, "white", "black"), (0.1, "green", "black")),
            band="flag",
            band_share=0.6,
        ),
        Format("four digits", "LL DDDD", 0.03, band="flag", band_share=0.6),
    ),
    flag=("red", "white", "blue", "white", "red"),
    sources=(_wiki("Norway"), "http://www.authorandbookinfo.com/kingkong/where/n.htm"),
    note="two letters (first registration office), 4-5 digits; green plates for vans",
)
_FIN = Country(
    "FIN",
    "Finland",
    formats=(
        Format(
            "1972", "LLL-ND{0,2}", 0.90, since="1972", two_line=1, two_share=0.03, size=(442, 118)
        ),
        Format("two letters", "LL-ND{0,2}", 0.10, size=(442, 118)),
    ),
    sources=(
        "https://kiwix.haohe.fun/content/wikipedia_en_all_maxi_2024-01/A/Finnish_car_number_plates",
    ),
    note="Å, Ä, Ö also occur (outside the reader's alphabet); numbers have no leading zero",
)
_IS = Country(
    "IS",
    "Iceland",
    formats=(
        Format(
            "1989",
            "LL|sticker|DDD",
            0.5,
            since="1989-2007",
            colours=((1.0, "white", "blue"),),
            band="flag",
            band_share=0.8,
            frame="is",
            font="helv",
        ),
        Format(
            "2007",
            "LL|sticker|LDD",
            0.5,
            since="2007",
            colours=((1.0, "white", "blue"),),
            band="flag",
            band_share=0.8,
            frame="is",
            font="helv",
        ),
    ),
    flag=("blue", "white", "red", "white", "blue"),
    sources=(
        "https://en.wikipedia.org/wiki/Icelandic_car_number_plates",
        "https://memim.com/vehicle-registration-plates-of-iceland.html",
    ),
    note="blue characters and frame; inspection sticker in the middle",
)

# --- Baltic countries ----------------------------------------------------------------
_EST = Country(
    "EST",
    "Estonia",
    formats=(Format("1991", "DDD LLL", 1.0, since="1991", two_line=1, two_share=0.03),),
    sources=(_wiki("Estonia"),),
)
_LV = Country(
    "LV",
    "Latvia",
    formats=(
        Format(
            "1992",
            "LL-ND{0,3}",
            1.0,
            since="1992",
            two_line=1,
            two_share=0.05,
            band_share=0.9,
            note="no leading zeros; Austrian (DIN-like) typeface",
        ),
    ),
    sources=(
        _wiki("Latvia"),
        "https://licenseplate.store/product-category/europe-license-plate/latvia/",
    ),
)
_LT = Country(
    "LT",
    "Lithuania",
    letters=_minus("QWX"),
    formats=(
        Format(
            "sticker",
            "LLL|sticker|DDD",
            0.50,
            since="2004-2018",
            two_line=1,
            two_share=0.03,
        ),
        Format("2018", "LLL DDD", 0.40, since="2018"),
        Format(
            "2023, arms",
            "LLL DDD",
            0.10,
            since="2023-10",
            emblem="lt",
            note="coat of arms right of the EU band",
        ),
    ),
    sources=(
        "https://wikimili.com/en/Vehicle_registration_plates_of_Lithuania",
        _wiki("Lithuania"),
    ),
)

# --- Western Balkans ---------------------------------------------------------------
_SRB = Country(
    "SRB",
    "Serbia",
    letters=_minus("QWY"),
    formats=(
        Format(
            "2011",
            "{city}|arms|D{3,4}-LL",
            1.0,
            since="2011",
            two_line=1,
            two_share=0.05,
            band="plain",
            emblem="rs",
            font="fe",
        ),
    ),
    codes={
        "city": _codes(
            "BG NS NI KG SU SO ZR PA VA CA KV KS LE VR UE SM SA PO PI JA NP KI BO ZA PZ AR GM SD"
            " SP VS LO KZ KM PK NV SC",
            complete=False,
            syntax="LL",
        )
    },
    sources=(
        "https://wikimili.com/en/Vehicle_registration_plates_of_Serbia",
        "https://memim.com/vehicle-registration-plates-of-serbia.html",
    ),
    note="Serbian shield with the city in Cyrillic below; no Q, W, Y since 2017",
)
_BIH = Country(
    "BIH",
    "Bosnia and Herzegovina",
    letters="AEJKMOT",
    formats=(
        Format(
            "1998",
            "LDD-L-DDD",
            1.0,
            since="1998",
            two_line=2,
            two_share=0.03,
            band="plain",
            band_share=0.8,
            font="fe",
        ),
    ),
    sources=(
        "http://piglix.com/piglix/Vehicle_registration_plates_of_Bosnia_and_Herzegovina",
        "https://memim.com/vehicle-registration-plates-of-bosnia-and-herzegovina.html",
    ),
    note="letters common to Latin and Cyrillic only; FE-Schrift",
)
_MNE = Country(
    "MNE",
    "Montenegro",
    letters=_minus("IOQWXY"),
    formats=(
        Format(
            "2008",
            "{city}|arms|LL DDD",
            1.0,
            since="2008",
            two_line=1,
            two_share=0.04,
            band="plain",
            emblem="mne",
        ),
    ),
    codes={
        "city": _codes(
            "AN BA BD BP BR CT DG GS HN KL KO MK NK PL PT PV PG RO TV TZ UL ZT",
            complete=False,
            syntax="[A-Z][A-Z]",
        )
    },
    sources=(
        "https://wikimili.com/en/Vehicle_registration_plates_of_Montenegro",
        "http://www.gutenberg.us/articles/eng/Vehicle_registration_plates_of_Montenegro",
    ),
    note="the gap inside the serial (AB 123) is an estimate (unc.)",
)
_NMK = Country(
    "NMK",
    "North Macedonia",
    formats=(
        Format(
            "2012",
            "{city}|box|DDDD LL",
            0.85,
            since="2012",
            two_line=1,
            two_share=0.04,
            band="plain",
        ),
        Format("1993", "{city}|box|DDD-LL", 0.15, since="1993-2012", band="none"),
    ),
    codes={
        "city": _codes(
            "BE BT DB DE DH GE GV KA KI KO KP KS KU NE OH PP RA RE SK SN SR ST SU TE VE VI VV",
            complete=False,
            syntax="LL",
        )
    },
    sources=(
        "https://en.infogalactic.com/info/Car_number_plates_in_the_Republic_of_Macedonia",
        "https://kennzeichen-guide.de/schilder-europas/nordmazedonien",
    ),
    note="red box with the letters in Cyrillic between code and number; MK before 2019",
)
_AL = Country(
    "AL",
    "Albania",
    formats=(
        Format(
            "2011",
            "LL DDD LL",
            0.75,
            since="2011-02",
            two_line=1,
            two_share=0.04,
            band="plain",
            right="al",
        ),
        Format("district", "{district} DDDD L", 0.25, since="1993-2011", band="none"),
    ),
    codes={
        "district": _codes(
            "TR DR EL FR KO SH VL LE GJ BR DI KU KR LB LU MT PG PR PU SR SK TP KA MK HA MR GR DV"
            " PP",
            complete=False,
            syntax="LL",
        )
    },
    sources=(_wiki("Albania"), "https://memim.com/vehicle-registration-plates-of-albania.html"),
    note="the older district series is an estimate (unc.)",
)
_RKS = Country(
    "RKS",
    "Kosovo",
    letters="ABCDEFGHIJKLMNOPQ",
    formats=(
        Format(
            "2010",
            "{district}|arms|DDD-LL",
            1.0,
            since="2010-12",
            two_line=1,
            two_share=0.03,
            band="plain",
            emblem="rks",
        ),
    ),
    codes={"district": _codes("01 02 03 04 05 06 07")},
    sources=(
        "https://wikimili.com/wiki/Vehicle_registration_plates_of_Kosovo",
        "https://en.m.wikipedia.org/wiki/Vehicle_registration_plates_of_Kosovo",
    ),
    note="serial letters A to Q",
)

# --- Ukraine and Türkiye -------------------------------------------------------------
_UA_REGIONS = _codes(
    "AA AB AC AE AH AI AK AM AO AP AT AX BA BB BC BE BH BI BK BM BO BT BX CA CB CE KA KB KC KE"
    " KH KI KK KM KO KP KT KX HA HB HC HE HH HI HK HM HO HP HT HX II",
    complete=False,
    syntax="LL",
)
_UA = Country(
    "UA",
    "Ukraine",
    letters="ABCEHIKMOPTX",
    formats=(
        Format(
            "2004",
            "{region} DDDD LL",
            0.92,
            since="2004",
            two_line=1,
            two_share=0.04,
            band="flag",
            band_share=0.8,
        ),
        Format(
            "1995",
            "DDD-DD LL",
            0.08,
            since="1995-2004",
            band="flag",
            note="two-digit region number under the flag, left of the characters",
        ),
    ),
    codes={"region": _UA_REGIONS},
    flag=("blue", "yellow"),
    sources=(
        _wiki("Ukraine"),
        "https://iiab.live/kiwix/content/wikipedia_en_top1m_maxi_2024-05/A/Vehicle_registration_plates_of_Ukraine",
    ),
    note="the 12 Cyrillic letters that look Latin (A B C E H I K M O P T X)",
)
_TR_PROV = _codes(" ".join(f"{p:02d}" for p in range(1, 82)))
_TR = Country(
    "TR",
    "Türkiye",
    letters=_minus("QWX"),
    formats=(
        Format(
            "one letter",
            "{prov} L D{4,5}",
            0.25,
            since="1983",
            band="plain",
            band_share=0.95,
            font="any",
        ),
        Format(
            "two letters",
            "{prov} LL D{3,4}",
            0.40,
            two_line=1,
            two_share=0.05,
            band="plain",
            band_share=0.95,
            font="any",
        ),
        Format(
            "three letters", "{prov} LLL D{2,3}", 0.35, band="plain", band_share=0.95, font="any"
        ),
    ),
    codes={"prov": _TR_PROV},
    sources=(_wiki("Turkey"), "https://cs.frwiki.wiki/wiki/Plaque_d%27immatriculation_turque"),
    note="province 01-81; blue band TR without stars; no mandated typeface",
)

EUROPE: tuple[Country, ...] = (
    _B,
    _NL,
    _F,
    _D,
    _L,
    _UK,
    _IRL,
    _E,
    _P,
    _I,
    _A,
    _CH,
    _FL,
    _PL,
    _CZ,
    _SK,
    _H,
    _SLO,
    _HR,
    _RO,
    _BG,
    _GR,
    _CY,
    _M,
    _DK,
    _S,
    _N,
    _FIN,
    _IS,
    _EST,
    _LV,
    _LT,
    _SRB,
    _BIH,
    _MNE,
    _NMK,
    _AL,
    _RKS,
    _UA,
    _TR,
)

# What a Belgian roadside camera sees, in relative weights (an estimate, unc.): the home
# fleet, then the neighbours, then freight and tourist traffic from the rest of Europe
# (Polish, Romanian, Lithuanian, Bulgarian and Ukrainian lorries are common on Belgian
# motorways), and a small tail for the far countries.
BELGIAN_TRAFFIC: dict[str, float] = {
    "B": 74.0,
    "NL": 6.5,
    "F": 5.0,
    "D": 3.5,
    "L": 1.2,
    "PL": 1.6,
    "RO": 1.2,
    "UK": 0.6,
    "I": 0.6,
    "E": 0.6,
    "BG": 0.6,
    "LT": 0.5,
    "P": 0.4,
    "UA": 0.4,
    "CZ": 0.35,
    "SK": 0.3,
    "H": 0.3,
    "A": 0.2,
    "CH": 0.2,
    "TR": 0.2,
    "IRL": 0.15,
    "LV": 0.15,
    "HR": 0.1,
    "DK": 0.1,
    "S": 0.1,
    "SLO": 0.08,
    "N": 0.08,
    "GR": 0.08,
    "SRB": 0.08,
    "EST": 0.06,
    "FIN": 0.05,
    "BIH": 0.05,
    "AL": 0.05,
    "NMK": 0.04,
    "RKS": 0.04,
    "MNE": 0.02,
    "FL": 0.02,
    "CY": 0.01,
    "M": 0.01,
    "IS": 0.01,
}
