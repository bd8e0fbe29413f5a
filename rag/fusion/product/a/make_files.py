"""Write the PDF and Word documents of the part-A product corpus from the text kept in this script.

Run with the project's environment (fpdf2 and python-docx):

    .venv/bin/python rag/fusion/product/a/make_files.py

It writes corpus/doorbell-installation-guide.pdf and corpus/car-rental-agreement.docx next to this script.
The PDF uses the core Helvetica font, so its text is Latin-1 only (straight quotes, plain hyphens).
"""

from __future__ import annotations

from pathlib import Path

from docx import Document
from fpdf import FPDF

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"

# --------------------------------------------------------------------------------------------------------------
# The doorbell installation guide (PDF). Each entry: ("h1" | "h2" | "p" | "li", text).
# --------------------------------------------------------------------------------------------------------------

DOORBELL = [
    ("h1", "CHIMEO WD-200 Wireless Doorbell Kit"),
    ("p", "Installation and User Guide. Kit model WD-200: push button WB-20 and plug-in chime WC-200."),
    ("p", "Thank you for choosing Chimeo. Please read this guide before installing your doorbell and keep it for future reference."),
    ("h2", "1. What is in the box"),
    ("li", "1 x waterproof push button (WB-20)"),
    ("li", "1 x plug-in chime unit (WC-200)"),
    ("li", "1 x CR2032 3V lithium battery (already fitted in the push button)"),
    ("li", "2 x screws and 2 x wall plugs"),
    ("li", "1 x double-sided adhesive pad"),
    ("li", "This guide"),
    ("h2", "2. Specifications"),
    ("li", "Wireless range: up to 150 m (500 ft) in open space. Walls, metal doors and coated glass reduce the range."),
    ("li", "Radio frequency: 433.92 MHz, with more than 1 million selectable codes."),
    ("li", "Push button battery: CR2032, lasting about 2 years at 10 presses a day."),
    ("li", "Push button protection: IP55 (protected against dust and water jets)."),
    ("li", "Push button operating temperature: -20 to +50 degrees C."),
    ("li", "Chime power: plugs into a standard 110-240 V AC, 50/60 Hz wall socket. No batteries are needed in the chime."),
    ("li", "Chime sound: 52 melodies, 5 volume levels up to 85 dB, plus a mute mode with a flashing LED only."),
    ("li", "The chime is for indoor use only."),
    ("h2", "3. Before you start"),
    ("p", "Before drilling any holes, test the doorbell where you plan to use it. Plug the chime into the socket you want to use, hold the push button at the place where you want to mount it, and press it. If the chime rings every time, the location is fine. If it does not, try a socket closer to the door."),
    ("h2", "4. Pairing the push button and the chime"),
    ("p", "The push button and the chime in this kit are already paired at the factory. You only need to pair them if you add a new push button or chime, or after a reset. To pair:"),
    ("li", "Step 1: Plug the chime into a wall socket."),
    ("li", "Step 2: Press and hold the volume button on the chime for 5 seconds, until the LED flashes blue."),
    ("li", "Step 3: Within 10 seconds, press the push button once. The chime plays a melody to confirm the pairing."),
    ("p", "One chime can be paired with up to 4 push buttons, for example for a front door and a back door, and each push button can play a different melody. One push button can be paired with any number of chimes."),
    ("p", "To clear all pairings, press and hold the volume button and the melody button on the chime together for 8 seconds, until the LED flashes red twice."),
    ("h2", "5. Mounting the push button"),
    ("p", "Mount the push button at a height of 1.2 to 1.5 m, beside the door and out of direct rain where possible. Avoid mounting it directly on metal, because metal surfaces can reduce the wireless range by up to 70%."),
    ("p", "Option A - screws: Remove the back plate by pushing the release tab at the bottom of the push button with a small flat screwdriver. Hold the back plate against the wall and mark the two holes. Drill two 6 mm holes, insert the wall plugs and screw the back plate to the wall. Clip the push button onto the back plate."),
    ("p", "Option B - adhesive pad: Clean the surface with rubbing alcohol and let it dry. Stick the pad to the back plate, press it firmly against the wall for 30 seconds, and wait 24 hours before using the push button. The adhesive pad is not suitable for rough surfaces such as brick or stucco, or for installation at temperatures below 5 degrees C."),
    ("h2", "6. Choosing a melody and volume"),
    ("p", "Press the melody button on the chime to step through the 52 melodies; the melody that plays last is saved for the push button that was pressed last. Press the volume button to step through the 5 volume levels and mute. The chime remembers your settings after a power cut."),
    ("h2", "7. Replacing the battery"),
    ("p", "When the battery is low, the LED on the push button flashes red when you press it. Remove the push button from its back plate as described in section 5, open the battery cover and replace the battery with a new CR2032, with the + side facing up. You do not need to pair the push button again after changing the battery."),
    ("h2", "8. Troubleshooting"),
    ("li", "The chime does not ring: check that the chime is not muted, replace the push button battery, pair the push button again, or move the chime closer."),
    ("li", "The chime rings by itself: another wireless device nearby may be using the same code. Clear all pairings and pair again; the chime then picks a new code."),
    ("li", "The range is short: move the chime away from metal objects, large appliances and Wi-Fi routers, and make sure the push button is not mounted on metal."),
    ("h2", "9. Warranty and support"),
    ("p", "Chimeo products have a 2-year warranty from the date of purchase. Proof of purchase is required. The warranty does not cover the battery, damage caused by incorrect installation, or water damage to the chime."),
    ("p", "Support: support@chimeo-home.com or 1-800-555-0123, Monday to Friday, 9 am to 5 pm Eastern Time."),
]


def make_pdf(path: Path) -> None:
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.set_margins(20, 18, 20)
    pdf.add_page()
    for kind, text in DOORBELL:
        text.encode("latin-1")  # the core font is Latin-1 only
        if kind == "h1":
            pdf.set_font("helvetica", "B", 16)
            pdf.multi_cell(0, 9, text, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
        elif kind == "h2":
            pdf.ln(3)
            pdf.set_font("helvetica", "B", 12)
            pdf.multi_cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
        elif kind == "li":
            pdf.set_font("helvetica", "", 10.5)
            pdf.multi_cell(0, 5.5, "- " + text, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
        else:
            pdf.set_font("helvetica", "", 10.5)
            pdf.multi_cell(0, 5.5, text, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2.5)
    pdf.output(str(path))


# --------------------------------------------------------------------------------------------------------------
# The car-rental agreement (Word). Paragraphs, headings and one table of charges.
# --------------------------------------------------------------------------------------------------------------

RENTAL_HEAD = [
    ("title", "SwiftWheel Car Rental - Vehicle Rental Agreement"),
    ("p", "Agreement number: SW-2025-048317"),
    ("p", "Rental location: Denver International Airport (DEN), 24530 E 78th Ave, Denver, CO 80249. Phone: (303) 555-0161."),
    ("h", "Renter and vehicle"),
    ("p", "Renter: Thomas J. Brennan, 1187 Aspen Ridge Drive, Fort Collins, CO 80525."),
    ("p", "Additional driver: Karen Brennan."),
    ("p", "Vehicle: 2024 Toyota RAV4 LE, silver, license plate CO BKW-4471. Odometer at pick-up: 18,402 miles. Fuel at pick-up: full."),
    ("p", "Pick-up: Monday, June 16, 2025 at 10:15 a.m. Return due: Monday, June 23, 2025 at 10:00 a.m., at the same location."),
    ("h", "Estimated charges"),
]

CHARGES = [
    ("Item", "Rate", "Amount"),
    ("Base rate (7 days)", "$58.00 per day", "$406.00"),
    ("Additional driver (7 days)", "$13.00 per day", "$91.00"),
    ("Loss Damage Waiver (LDW) (7 days)", "$24.99 per day", "$174.93"),
    ("Child safety seat (7 days)", "$11.99 per day", "$83.93"),
    ("Airport concession recovery fee", "11.1% of base rate", "$45.07"),
    ("Vehicle license fee (7 days)", "$2.15 per day", "$15.05"),
    ("Sales tax", "8.81%", "$71.89"),
    ("Estimated total", "", "$887.87"),
]

RENTAL_TAIL = [
    ("p", "Options declined by the renter: Supplemental Liability Insurance, Personal Accident Insurance, Roadside Plus ($6.99 per day), prepaid fuel."),
    ("p", "Security deposit: a hold of $300 is placed on the renter's credit card at pick-up and released within 7 business days after the vehicle is returned."),
    ("h", "Terms and conditions"),
    ("p", "1. Drivers. Only the renter and the additional drivers named in this agreement may drive the vehicle. Every driver must be at least 21 years old and must have held a valid driver's license for at least one year. Drivers aged 21 to 24 pay a young driver surcharge of $27 per day. Additional drivers must be present at pick-up with their license."),
    ("p", "2. Where you may drive. Mileage is unlimited within Colorado and the neighboring states of Wyoming, Nebraska, Kansas, Oklahoma, New Mexico and Utah. Miles driven in any other state are charged at $0.35 per mile. The vehicle may not be taken into Mexico. Travel to Canada requires SwiftWheel's written consent before the rental starts."),
    ("p", "3. Fuel. The vehicle was provided with a full tank and must be returned with a full tank. If it is not, SwiftWheel will refuel it at $9.49 per gallon plus a $15 service fee."),
    ("p", "4. Late and early return. There is a grace period of 29 minutes. After that, late returns are charged $19 per hour, up to the full daily rate for each day. A vehicle that is more than 24 hours late, without the renter contacting SwiftWheel, may be reported to the police as stolen. If the vehicle is returned early, the rental is charged at the daily rate for the days used, and any weekly discount may be lost."),
    ("p", "5. Damage and loss. Because the renter accepted the Loss Damage Waiver, the renter is not responsible for damage to or loss of the vehicle, except where the damage happens while the renter breaks this agreement, for example when the vehicle is driven by an unauthorized driver, under the influence of alcohol or drugs, or off paved roads. Without the LDW, the renter would be responsible for the full cost of repairs up to the value of the vehicle, plus loss of use and a $75 administrative fee."),
    ("p", "6. Smoking and pets. Smoking and vaping are not allowed in the vehicle; a cleaning fee of up to $250 applies. Pets are welcome if they travel in a crate or carrier. A cleaning fee of $150 applies if the vehicle is returned with excessive pet hair."),
    ("p", "7. Tolls. The vehicle has a PlatePass toll transponder. If you use a toll road, you pay the tolls plus a convenience fee of $5.95 for each day on which a toll is used, up to $29.75 per rental."),
    ("p", "8. Traffic and parking tickets. The renter is responsible for all fines incurred during the rental. SwiftWheel charges an administrative fee of $35 for each violation it processes."),
    ("p", "9. Breakdowns and roadside assistance. Call 24-hour roadside assistance at 1-888-555-0177. Repairs for mechanical breakdowns not caused by the renter are free of charge. Because Roadside Plus was declined, a lockout, jump-start, flat tire change or fuel delivery is charged at $89 per call-out."),
    ("p", "10. Accidents. Any accident must be reported to the police and to SwiftWheel within 24 hours. Do not admit fault or make any agreement with the other party."),
    ("p", "11. Personal belongings. SwiftWheel is not responsible for items left in the vehicle after it is returned."),
    ("h", "Signatures"),
    ("p", "By signing, the renter confirms that he has read and accepts the terms and conditions of this agreement."),
    ("p", "Renter: Thomas J. Brennan, signed June 16, 2025."),
    ("p", "SwiftWheel agent: Marcus Webb, Denver International Airport."),
]


def make_docx(path: Path) -> None:
    doc = Document()
    for kind, text in RENTAL_HEAD:
        add(doc, kind, text)
    table = doc.add_table(rows=0, cols=3)
    table.style = "Table Grid"
    for row in CHARGES:
        cells = table.add_row().cells
        for cell, value in zip(cells, row):
            cell.text = value
    for kind, text in RENTAL_TAIL:
        add(doc, kind, text)
    doc.core_properties.title = "SwiftWheel Vehicle Rental Agreement SW-2025-048317"
    doc.save(str(path))


def add(doc: Document, kind: str, text: str) -> None:
    if kind == "title":
        doc.add_heading(text, level=0)
    elif kind == "h":
        doc.add_heading(text, level=1)
    else:
        doc.add_paragraph(text)


if __name__ == "__main__":
    CORPUS.mkdir(exist_ok=True)
    make_pdf(CORPUS / "doorbell-installation-guide.pdf")
    make_docx(CORPUS / "car-rental-agreement.docx")
    print("wrote", CORPUS / "doorbell-installation-guide.pdf", "and", CORPUS / "car-rental-agreement.docx")
