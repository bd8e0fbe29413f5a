"""Write the PDF and Word documents of the product evaluation corpus (eval/product/corpus/).

The text of each document is kept here; run with the project's interpreter:

    .venv/bin/python eval/product/make_files.py

PDFs use fpdf2's core Helvetica font, so their text is Latin-1 only (straight quotes, plain hyphens).
The output is deterministic apart from the PDF creation date, which is fixed below.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import docx
from docx.shared import Pt
from fpdf import FPDF

OUT = Path(__file__).resolve().parent / "corpus"
FIXED_DATE = dt.datetime(2026, 1, 15, 12, 0, 0, tzinfo=dt.timezone.utc)

# ---------------------------------------------------------------------------------------------------------------
# Coffee machine manual (PDF). Each entry: ("h1" | "h2" | "p" | "li", text); "page" starts a new page.
# ---------------------------------------------------------------------------------------------------------------

COFFEE = [
    ("h1", "Brevio CM-450 Bean-to-Cup Espresso Machine"),
    ("p", "User Manual - excerpt (sections 3 to 8). Model CM-450, manual version 2.1, January 2025."),
    ("h2", "3. Technical data"),
    ("li", "Power supply: 220-240 V, 50 Hz"),
    ("li", "Power consumption: 1450 W"),
    ("li", "Pump pressure: 15 bar"),
    ("li", "Water tank capacity: 1.8 litres"),
    ("li", "Bean container capacity: 250 g"),
    ("li", "Grounds container: up to 12 servings"),
    ("li", "Weight: 8.4 kg"),
    ("li", "Dimensions (W x H x D): 24 x 36 x 43 cm"),
    ("h2", "4. Before first use"),
    ("p", "Remove all packaging and stickers. Rinse the water tank with clean water, fill it up to the MAX mark "
          "and put it back in the machine. Fill the bean container with whole roasted coffee beans. Never put "
          "ground coffee, instant coffee, caramelised or flavoured beans into the bean container, as they can "
          "damage the grinder."),
    ("p", "Press the power button. The machine heats up in about 40 seconds and then rinses the coffee outlet "
          "automatically. Before making your first coffee, place a large cup under the outlet and run two cups of "
          "hot water through the machine to prime the system."),
    ("h2", "5. Making coffee"),
    ("p", "Press the button for the drink you want. The standard cup sizes are: espresso 40 ml, lungo 110 ml and "
          "americano 180 ml. To make two cups at the same time, press the drink button twice within 2 seconds "
          "(espresso and lungo only)."),
    ("p", "Strength: turn the aroma dial to choose from 1 (mild) to 5 (extra strong). Grind setting: the grinder "
          "has 7 settings. Setting 1 is the finest and setting 7 the coarsest. Only change the grind setting while "
          "the grinder is running, or you may damage it. The factory setting is 4."),
    ("p", "Using pre-ground coffee: open the lid of the bypass chute, add one level measuring spoon of pre-ground "
          "coffee and press the espresso button. Do not add more than one spoon. Only one cup can be made at a "
          "time with pre-ground coffee."),
    ("h2", "6. Frothing milk"),
    ("p", "Fill a jug one third full with cold milk (semi-skimmed milk straight from the fridge gives the best "
          "froth). Put the steam wand into the milk and turn the steam knob anticlockwise. Steam for 30 to 60 "
          "seconds, then close the knob before taking the jug away. After each use, wipe the wand with a damp "
          "cloth and let a little steam out for 2 seconds to clear the inside."),
    ("p", "Caution: the steam wand gets very hot. Hold it only by the plastic grip."),
    ("page", ""),
    ("h2", "7. Cleaning and care"),
    ("p", "Empty the grounds container and the drip tray every day, or when the red float in the drip tray "
          "becomes visible. Rinse the brewing unit under lukewarm running water once a week. Do not use washing-up "
          "liquid on the brewing unit and do not put it in the dishwasher. The water tank, drip tray and grounds "
          "container are dishwasher safe (top rack only)."),
    ("p", "Descaling: when the descale light flashes orange, the machine needs descaling. Depending on the "
          "hardness of your water, this is about every 2 to 3 months. Use only Brevio DescalePro liquid; vinegar "
          "can damage the machine and is not covered by the warranty. A descaling cycle takes about 25 minutes. "
          "Do not interrupt the cycle once it has started."),
    ("p", "Water filter: if you use a Brevio AquaClean filter, replace it every 2 months or after 60 litres of "
          "water, whichever comes first. With a filter fitted, descaling is needed less often."),
    ("h2", "8. Troubleshooting"),
    ("p", "If the display shows an error code, check the table below before contacting customer service."),
    ("li", "E01 - Water tank empty or not inserted correctly: fill the tank and push it in firmly."),
    ("li", "E02 - Brewing unit missing or not locked: insert the brewing unit and close the service door."),
    ("li", "E03 - Machine too hot: switch off and let it cool down for 30 minutes."),
    ("li", "E04 - Grounds container full: empty the grounds container and the drip tray."),
    ("li", "E05 - Grinder blocked: switch off, unplug and call customer service. Do not try to open the grinder."),
    ("p", "Coffee is not hot enough: preheat the cups with hot water and set the temperature to HIGH in the menu. "
          "Coffee comes out too slowly: set a coarser grind. Coffee is watery: set a finer grind or a higher "
          "aroma level."),
    ("h2", "Warranty and customer service"),
    ("p", "Your Brevio machine has a 2-year warranty from the date of purchase. If you register the machine at "
          "www.brevio-home.com/register within 30 days of purchase, the warranty is extended to 3 years. The "
          "warranty does not cover damage caused by limescale, by the use of vinegar or other non-Brevio descalers, "
          "or by commercial use."),
    ("p", "Customer service: 0345 600 2211 (Monday to Friday, 8am to 6pm). Please have the model number and the "
          "serial number ready; both are printed on the label behind the drip tray."),
]

# ---------------------------------------------------------------------------------------------------------------
# Waste collection leaflet (PDF)
# ---------------------------------------------------------------------------------------------------------------

WASTE = [
    ("h1", "Westbrook City Council - Your Bins and Collections 2026"),
    ("p", "This leaflet explains what goes in each bin, when your bins are collected and what to do with things "
          "that do not fit in your bins. Please keep it somewhere handy, for example on your fridge."),
    ("h2", "Which bin is which"),
    ("p", "Black bin (general waste) - collected every two weeks. For rubbish that cannot be recycled, such as "
          "nappies, crisp packets, plastic film and wrappers, polystyrene, pet waste in tied bags and broken "
          "crockery."),
    ("p", "Blue bin (mixed recycling) - collected every two weeks, on the opposite week to your black bin. "
          "Please put in: paper, newspapers and magazines; cardboard, flattened; food and drink cans; empty "
          "aerosols; glass bottles and jars; plastic bottles, pots, tubs and trays; food and drink cartons. All "
          "items must be clean, dry and loose - not in bags."),
    ("p", "Food caddy (food waste) - collected every week. All cooked and uncooked food, including meat, fish, "
          "bones, fruit and vegetable peelings, tea bags and coffee grounds. Line your caddy with newspaper or "
          "compostable liners only; plastic bags are not accepted. Free liners are available from all Westbrook "
          "libraries."),
    ("p", "Green bin (garden waste) - collected every two weeks from March to November. This is an optional "
          "service that costs £48 a year per bin (£38 if you sign up before 28 February 2026). Grass "
          "cuttings, hedge trimmings, leaves, flowers, weeds and small branches (up to 10 cm thick). No soil, "
          "turf, rubble or food waste."),
    ("h2", "Collection day rules"),
    ("li", "Put your bins out by 6:30am on your collection day, but not before 7pm the evening before."),
    ("li", "Leave bins at the edge of your property with the handles facing the road and the lid closed."),
    ("li", "Bring your bins back in by the end of the collection day."),
    ("li", "Extra bags left next to your black bin will not be collected."),
    ("li", "Bins that contain the wrong items will be tagged and not emptied. Remove the wrong items and we will "
           "empty the bin on the next collection day."),
    ("page", ""),
    ("h2", "Christmas and New Year 2025/26"),
    ("p", "Collections that fall on Thursday 25 December 2025 will take place on Saturday 27 December. Collections "
          "due on Friday 26 December will take place on Monday 29 December, and collections due on Thursday 1 "
          "January 2026 will take place on Saturday 3 January. Real Christmas trees can be put out next to your "
          "green bin in January, cut into pieces no longer than 1 metre."),
    ("h2", "Bulky waste collection"),
    ("p", "We can collect large household items such as furniture, mattresses and fridges. The charge is £30 "
          "for up to three items and £8 for each extra item, up to a maximum of six items per "
          "collection. Residents receiving Council Tax Reduction get a 50% discount. Book online at "
          "westbrook.gov.uk/bulky or by phone. We cannot collect building waste, car parts, gas bottles or "
          "asbestos."),
    ("h2", "Batteries, small electricals and textiles"),
    ("p", "Put used household batteries in a clear plastic bag on top of your blue bin lid and we will collect "
          "them. Small electrical items such as toasters, kettles and phones can be left next to your blue bin in "
          "a separate carrier bag. Clean clothes, shoes and textiles should go to a textile bank or charity shop; "
          "please do not put them in any of your bins."),
    ("h2", "Household Recycling Centre"),
    ("p", "Westbrook Household Recycling Centre, Quarry Lane, is open every day from 8am to 6pm (April to "
          "September) and from 8am to 4pm (October to March). It is closed on 25 and 26 December and 1 January. "
          "You must book a time slot online before you visit. Vans and trailers need a permit, and you can make "
          "up to 12 van or trailer visits a year."),
    ("h2", "Missed collections and new bins"),
    ("p", "If your bin was not collected, report it by the end of the next working day after your collection "
          "day. A new or replacement blue bin or food caddy is free. A replacement black bin costs £25, "
          "unless it was damaged by our crews."),
    ("p", "Contact us: westbrook.gov.uk/bins or 01632 960 555 (Monday to Friday, 9am to 5pm)."),
]


def write_pdf(name: str, blocks: list[tuple[str, str]], title: str) -> None:
    pdf = FPDF(format="A4")
    pdf.set_creation_date(FIXED_DATE)
    pdf.set_title(title)
    pdf.set_author("eval/product")
    pdf.set_margins(20, 20, 20)
    pdf.set_auto_page_break(True, margin=20)
    pdf.add_page()
    for kind, text in blocks:
        text.encode("latin-1")  # the core font is Latin-1 only: fail early on anything else
        if kind == "page":
            pdf.add_page()
        elif kind == "h1":
            pdf.set_font("helvetica", "B", 16)
            pdf.multi_cell(0, 8, text, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(3)
        elif kind == "h2":
            pdf.ln(2)
            pdf.set_font("helvetica", "B", 12)
            pdf.multi_cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
        elif kind == "li":
            pdf.set_font("helvetica", "", 10)
            pdf.set_x(24)
            pdf.multi_cell(0, 5, "- " + text, new_x="LMARGIN", new_y="NEXT")
        else:
            pdf.set_font("helvetica", "", 10)
            pdf.multi_cell(0, 5, text, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
    pdf.output(str(OUT / name))


# ---------------------------------------------------------------------------------------------------------------
# Tenancy agreement (Word). Each entry: ("h" | "p" | "table", text or rows).
# ---------------------------------------------------------------------------------------------------------------

TENANCY = [
    ("title", "Assured Shorthold Tenancy Agreement"),
    ("p", "This agreement is made on 18 July 2025 between the Landlord and the Tenants named below. It creates an "
          "assured shorthold tenancy under Part I of the Housing Act 1988."),
    ("h", "1. Particulars"),
    ("table", [
        ["Landlord", "Graham Whitfield, 4 Orchard Rise, Bath BA2 5LP"],
        ["Tenants", "Sofia Marquez and Jonas Berg"],
        ["Property", "Flat 3, 27 Linden Road, Bristol BS6 7QT (second-floor flat with two bedrooms)"],
        ["Term", "12 months from 1 August 2025 to 31 July 2026"],
        ["Rent", "£1,350 per calendar month"],
        ["Rent due date", "The 1st day of each month, by standing order"],
        ["Deposit", "£1,557"],
        ["Letting agent", "None. The Landlord manages the Property himself."],
    ]),
    ("h", "2. Rent"),
    ("p", "2.1 The Tenants will pay the Rent in advance on the 1st day of each month by standing order to the "
          "Landlord's bank account. The first payment of £1,350 is due on or before 1 August 2025."),
    ("p", "2.2 The Tenants are jointly and severally liable for the Rent. This means each Tenant is responsible for "
          "the whole of the Rent, not just a share of it."),
    ("p", "2.3 If the Rent is more than 14 days late, the Landlord may charge interest at 3% a year above the Bank of "
          "England base rate from the date it was due until it is paid."),
    ("p", "2.4 The Landlord will not increase the Rent during the fixed term. Any later increase will be made with "
          "at least one month's written notice and no more than once a year."),
    ("h", "3. Deposit"),
    ("p", "3.1 The Tenants have paid a deposit of £1,557, equal to five weeks' rent. The Landlord will protect the "
          "deposit with the Deposit Protection Service (DPS) within 30 days of receiving it and will give the Tenants "
          "the prescribed information."),
    ("p", "3.2 At the end of the tenancy the Landlord may deduct from the deposit any unpaid rent or bills and the "
          "cost of putting right damage beyond fair wear and tear. The deposit, less any agreed deductions, will be "
          "returned within 10 days of the Tenants and Landlord agreeing the amount."),
    ("h", "4. Bills and council tax"),
    ("p", "4.1 The Tenants will pay council tax, gas, electricity, water and sewerage charges, broadband and the TV "
          "licence for the Property during the tenancy."),
    ("p", "4.2 The Landlord will pay the buildings insurance and the service charge for the building. The Tenants are "
          "advised to take out their own contents insurance."),
    ("h", "5. Use of the Property"),
    ("p", "5.1 The Tenants will use the Property as a private home for themselves only and will not sublet it or take "
          "in lodgers."),
    ("p", "5.2 The Tenants will not keep any pets at the Property without the Landlord's written consent, which will "
          "not be unreasonably refused. The Landlord may ask for an additional deposit of up to one week's rent if a "
          "pet is allowed."),
    ("p", "5.3 Smoking and vaping are not allowed anywhere inside the Property."),
    ("p", "5.4 The Tenants will not redecorate, put up shelves or make alterations without the Landlord's written "
          "consent. Small picture hooks may be used."),
    ("p", "5.5 Bicycles must be kept in the bike store at the rear of the building and not in the communal hallway."),
    ("h", "6. Repairs and access"),
    ("p", "6.1 The Landlord is responsible for repairs to the structure and exterior of the Property, and for keeping "
          "the boiler, heating, water, gas and electrical installations in good working order."),
    ("p", "6.2 The Tenants will report any damage or need for repair to the Landlord as soon as reasonably possible "
          "and in any case within 7 days. In an emergency, such as a gas leak or flooding, they should call the "
          "Landlord straight away on 07700 900 263."),
    ("p", "6.3 The Tenants are responsible for minor matters such as changing light bulbs, replacing smoke alarm "
          "batteries and keeping drains clear."),
    ("p", "6.4 The Landlord may enter the Property to inspect it or carry out repairs at reasonable times after giving "
          "the Tenants at least 24 hours' written notice, except in an emergency."),
    ("h", "7. Ending the tenancy"),
    ("p", "7.1 Break clause: either party may end this tenancy after the first 6 months by giving at least 2 months' "
          "written notice. The earliest date the tenancy can end under this clause is therefore 1 April 2026 (notice "
          "must be given no later than 31 January 2026)."),
    ("p", "7.2 If no notice is given, the tenancy will continue after 31 July 2026 as a periodic tenancy from month to "
          "month. The Tenants may then end it by giving at least one month's notice."),
    ("p", "7.3 At the end of the tenancy the Tenants will return all keys (two sets of front door, flat and postbox "
          "keys were provided) and leave the Property clean and in the same condition as at the start, apart from "
          "fair wear and tear. An inventory was agreed and signed on 31 July 2025."),
    ("h", "8. Signatures"),
    ("p", "Signed by the Landlord: Graham Whitfield, 18 July 2025"),
    ("p", "Signed by the Tenants: Sofia Marquez and Jonas Berg, 18 July 2025"),
]


def write_docx(name: str, blocks: list) -> None:
    document = docx.Document()
    document.core_properties.author = "eval/product"
    document.core_properties.created = FIXED_DATE.replace(tzinfo=None)
    document.styles["Normal"].font.size = Pt(11)
    for kind, body in blocks:
        if kind == "title":
            document.add_heading(body, level=0)
        elif kind == "h":
            document.add_heading(body, level=1)
        elif kind == "table":
            table = document.add_table(rows=0, cols=2)
            table.style = "Table Grid"
            for left, right in body:
                cells = table.add_row().cells
                cells[0].text, cells[1].text = left, right
        else:
            document.add_paragraph(body)
    document.save(str(OUT / name))


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    write_pdf("brevio-cm450-manual.pdf", COFFEE, "Brevio CM-450 User Manual (excerpt)")
    write_pdf("westbrook-bins-leaflet-2026.pdf", WASTE, "Westbrook City Council - Your Bins and Collections 2026")
    write_docx("tenancy-agreement-flat3-linden-road.docx", TENANCY)
    for path in sorted(OUT.iterdir()):
        print(path.name, path.stat().st_size)


if __name__ == "__main__":
    main()
