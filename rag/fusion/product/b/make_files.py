"""Write the PDF and Word documents of this training corpus from the text kept below.

Run with /work/main/.venv/bin/python (fpdf2 and python-docx are installed there):

    .venv/bin/python rag/fusion/product/b/make_files.py

Outputs: corpus/nimbo-v3-robot-vacuum-quick-start.pdf and corpus/harbor-valley-food-bank-volunteer-agreement.docx.
The PDF uses fpdf2's core helvetica font, so its text is Latin-1 only (straight quotes, plain hyphens).
"""

from __future__ import annotations

from pathlib import Path

from docx import Document
from docx.shared import Pt
from fpdf import FPDF

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"

# ---------------------------------------------------------------------------------------------------------
# The robot vacuum quick-start manual (PDF). Each entry: ("h1"|"h2"|"p"|"li"|"page", text).
# ---------------------------------------------------------------------------------------------------------

VACUUM = [
    ("h1", "Nimbo V3 Robot Vacuum - Quick Start Guide"),
    ("p", "Model NV3-200. Thank you for choosing Nimbo. Please read this guide and the safety instructions "
          "before using your robot for the first time, and keep it for future reference."),
    ("h2", "1. What is in the box"),
    ("li", "Nimbo V3 robot vacuum"),
    ("li", "Charging dock and power adapter"),
    ("li", "2 side brushes (marked L and R)"),
    ("li", "1 spare HEPA filter"),
    ("li", "Cleaning tool (brush and blade)"),
    ("li", "Magnetic boundary strip, 2 m"),
    ("li", "This quick start guide"),
    ("h2", "2. Key specifications"),
    ("li", "Battery: 5200 mAh lithium-ion"),
    ("li", "Run time: up to 150 minutes in Quiet mode, about 90 minutes in Max mode"),
    ("li", "Charging time: about 4 hours"),
    ("li", "Dustbin capacity: 450 ml"),
    ("li", "Suction power: up to 3000 Pa"),
    ("li", "Noise level: 58 dB in Quiet mode"),
    ("li", "Climbs thresholds and rug edges up to 2 cm high"),
    ("li", "Height: 9.5 cm, so it fits under most sofas and beds"),
    ("li", "Wi-Fi: 2.4 GHz networks only (5 GHz networks are not supported)"),
    ("h2", "3. Before the first use"),
    ("p", "Step 1. Remove the protective foam strips from the front bumper and the plastic film from the top cover."),
    ("p", "Step 2. Push the side brushes onto the pegs under the robot until they click. The letter on each brush "
          "must match the letter next to its peg (L on the left, R on the right)."),
    ("p", "Step 3. Place the charging dock against a wall on a hard, level floor. Leave at least 0.5 m of free "
          "space on each side of the dock and 1.5 m in front of it, and keep it away from stairs. Plug in the "
          "power adapter."),
    ("p", "Step 4. Switch on the robot with the power switch on its side and place it on the dock. Charge it "
          "fully before the first cleaning run. This takes about 4 hours; the light turns solid white when the "
          "battery is full."),
    ("h2", "4. Connect to the Nimbo Home app"),
    ("p", "Download the free Nimbo Home app from the App Store or Google Play. The app needs iOS 14 or later, or "
          "Android 9 or later. Create an account and tap Add device. Then press and hold the Home button and the "
          "Clean button together for 3 seconds, until you hear \"Ready to connect\" and the Wi-Fi light blinks "
          "blue. Follow the steps in the app. Your phone must be on the same 2.4 GHz network during set-up."),
    ("p", "The first run in Auto mode builds a map of your home. Once the map is saved you can name rooms, set "
          "no-go zones and plan a cleaning schedule in the app."),
    ("h2", "5. Buttons and lights"),
    ("li", "Clean button: press to start or pause cleaning. Hold for 3 seconds to switch off."),
    ("li", "Home button: press to send the robot back to the dock."),
    ("li", "Solid white light: charged and ready."),
    ("li", "Pulsing white light: charging."),
    ("li", "Blinking orange light: battery below 15%. The robot returns to the dock by itself."),
    ("li", "Red light: an error. The robot speaks the error code, and the app shows it too."),
    ("h2", "6. Cleaning modes"),
    ("li", "Auto: cleans the whole home room by room, then returns to the dock."),
    ("li", "Spot: cleans an area of about 1.5 m x 1.5 m around the robot. Good for spills of crumbs or cereal."),
    ("li", "Edge: follows walls and furniture edges."),
    ("li", "Quiet: lower suction for the longest run time and the least noise."),
    ("li", "Max: the strongest suction, for pet hair and deep cleaning."),
    ("p", "Carpet Boost is on by default: the robot raises suction automatically when it detects a carpet. You "
          "can turn it off in the app."),
    ("page", ""),
    ("h2", "7. Care and maintenance"),
    ("p", "To keep your Nimbo working well, follow this schedule."),
    ("li", "Dustbin: empty after every use."),
    ("li", "HEPA filter: tap clean once a week. Do not wash it with water. Replace it every 2 to 3 months."),
    ("li", "Main brush: remove hair once a week with the cleaning tool. Replace it every 6 to 12 months."),
    ("li", "Side brushes: clean once a month. Replace them every 3 to 6 months."),
    ("li", "Cliff sensors and charging contacts: wipe with a soft dry cloth once a month."),
    ("p", "Genuine replacement parts are sold at nimbohome.com/parts. Using other parts may damage the robot and "
          "is not covered by the warranty."),
    ("h2", "8. Troubleshooting"),
    ("li", "Error 1 - Wheel stuck: move the robot to a new place and check the wheels for hair or threads."),
    ("li", "Error 2 - Bumper stuck: tap the bumper gently all the way round until it moves freely."),
    ("li", "Error 3 - Cliff sensor dirty or blocked: wipe the sensors under the robot with a dry cloth."),
    ("li", "Error 5 - Main brush tangled: remove the brush and cut away hair with the cleaning tool."),
    ("li", "Error 7 - Dustbin missing: put the dustbin back in until it clicks."),
    ("li", "The robot does not charge: check that the adapter is plugged in, and clean the charging contacts on "
           "the robot and the dock."),
    ("li", "The robot cannot find the dock: make sure the dock has enough free space around it and is not in "
           "direct sunlight."),
    ("li", "The app cannot connect: check that your router uses 2.4 GHz, move the robot closer to the router, "
           "and start the connection again."),
    ("h2", "9. Safety"),
    ("li", "For indoor use on dry floors only. Do not use it outdoors or on wet floors."),
    ("li", "Before cleaning, pick up cables, socks, curtain cords and small objects from the floor."),
    ("li", "Operating temperature: 0 to 40 degrees C."),
    ("li", "Use only the charging dock and adapter supplied with the robot."),
    ("li", "Children should not play with the robot. Keep pets away from the robot while it is cleaning if they "
           "are frightened by it."),
    ("li", "The cliff sensors keep the robot from falling down stairs, but they may not work on very dark or "
           "black carpets. In that case, lay the magnetic boundary strip along the top of the stairs."),
    ("h2", "10. Warranty and support"),
    ("p", "Nimbo gives a 2-year warranty on the robot and dock, and 12 months on the battery, from the date of "
          "purchase. Brushes, filters and other wear parts are not covered. Register your robot at "
          "nimbohome.com/register to activate the warranty. For help, email support@nimbohome.com or use the "
          "chat in the Nimbo Home app. Please have the serial number ready; it is printed on the label under the "
          "dustbin."),
]


def make_pdf(path: Path) -> None:
    pdf = FPDF(format="A4")
    pdf.set_margins(20, 18, 20)
    pdf.set_auto_page_break(True, margin=18)
    pdf.set_title("Nimbo V3 Robot Vacuum - Quick Start Guide")
    pdf.set_author("Nimbo Home")
    pdf.add_page()
    for kind, text in VACUUM:
        text.encode("latin-1")  # the core font has Latin-1 glyphs only
        if kind == "page":
            pdf.add_page()
        elif kind == "h1":
            pdf.set_font("helvetica", "B", 18)
            pdf.multi_cell(0, 10, text, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
        elif kind == "h2":
            pdf.ln(3)
            pdf.set_font("helvetica", "B", 13)
            pdf.multi_cell(0, 8, text, new_x="LMARGIN", new_y="NEXT")
        elif kind == "p":
            pdf.set_font("helvetica", "", 10.5)
            pdf.multi_cell(0, 5.5, text, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1.5)
        elif kind == "li":
            pdf.set_font("helvetica", "", 10.5)
            pdf.multi_cell(0, 5.5, "- " + text, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))


# ---------------------------------------------------------------------------------------------------------
# The food bank's volunteer agreement (Word). ("title"|"h"|"p"|"li"|"table", content).
# ---------------------------------------------------------------------------------------------------------

VOLUNTEER = [
    ("title", "Harbor Valley Food Bank - Volunteer Agreement"),
    ("p", "Harbor Valley Food Bank, 1450 Industrial Parkway, Harbor Valley. Version 4, January 2025."),
    ("p", "Thank you for giving your time to Harbor Valley Food Bank. Last year 2,300 volunteers helped us "
          "distribute 4.1 million pounds of food to families across the valley. This agreement explains what you "
          "can expect from us and what we expect from you. Please read it, sign the last page and bring it to "
          "your orientation."),
    ("h", "1. Who can volunteer"),
    ("li", "Volunteers aged 16 and over may volunteer on their own."),
    ("li", "Volunteers aged 14 and 15 must be accompanied by a parent, guardian or group leader aged 21 or over, "
           "with one adult for every five young volunteers."),
    ("li", "Children under 14 may only help at our Family Packing Saturdays, held on the first Saturday of each "
           "month, together with an adult."),
    ("li", "Volunteers under 18 need a parent or guardian to sign this agreement."),
    ("li", "Court-ordered community service hours are accepted for warehouse shifts only. Please tell the "
           "Volunteer Coordinator before your first shift."),
    ("h", "2. Orientation and training"),
    ("p", "Every new volunteer must attend a 90-minute orientation before the first shift. Orientations are held "
          "every Tuesday at 6 p.m. and on the second Saturday of each month at 10 a.m. The orientation covers "
          "food safety, safe lifting and how we treat our clients. Forklifts and pallet jacks may only be used "
          "by staff."),
    ("h", "3. Shifts and roles"),
    ("table", [
        ("Role", "When", "Requirements"),
        ("Warehouse sorting", "Monday to Friday, 9:00 to 12:00 and 13:00 to 16:00", "Age 14 or over; able to stand for 3 hours"),
        ("Saturday distribution", "Saturday, 8:00 to 12:30", "Age 16 or over"),
        ("Home delivery driver", "Tuesday and Thursday, 10:00 to 14:00", "Age 21 or over; valid driver's license held for 3 years; own insured car"),
        ("Front desk and intake", "Monday to Friday, 9:00 to 16:00", "Age 18 or over; background check"),
    ]),
    ("p", "Volunteers sign up for shifts in the VolunteerHub app or on our website. Please sign in at the "
          "volunteer desk on arrival and sign out when you leave, so that your hours are recorded."),
    ("p", "Home delivery drivers are reimbursed for mileage at 40 cents per mile. Submit your mileage log by the "
          "5th of the following month."),
    ("h", "4. Attendance"),
    ("p", "If you cannot come to a shift, cancel it in the app or call the Volunteer Coordinator at least 24 "
          "hours in advance. Volunteers who miss three shifts without notice within six months will be removed "
          "from the schedule and asked to meet the Volunteer Coordinator before signing up again. If the food "
          "bank has to cancel a shift, for example because of snow, we will text you by 7 a.m."),
    ("h", "5. Dress code and safety"),
    ("li", "Wear closed-toe shoes. Sandals, flip-flops and high heels are not allowed in the warehouse."),
    ("li", "Tie back long hair. Hairnets and gloves are provided for food handling."),
    ("li", "Remove rings, bracelets and other loose jewelry before sorting food."),
    ("li", "Wash your hands when you arrive, after breaks and after using the restroom."),
    ("li", "Do not lift more than 40 pounds on your own. Ask a shift lead for help."),
    ("li", "Report every injury, however small, to your shift lead immediately. First aid kits are at the "
           "volunteer desk and by the loading dock."),
    ("li", "Do not come to a shift if you have had a fever, vomiting or diarrhea in the last 48 hours."),
    ("h", "6. Respect and confidentiality"),
    ("p", "Our clients are our neighbors, and we treat everyone with dignity, whatever their background. "
          "Volunteers must not share the names or any personal information of clients, and must not take photos "
          "of clients or post about them on social media. Photos of the warehouse are fine as long as no client "
          "can be seen."),
    ("p", "Food and other donations may not be taken home by volunteers, including damaged or expired items, "
          "which are sorted for composting or disposal. Volunteers who need food assistance themselves are "
          "welcome to register as clients through the normal intake process, in confidence."),
    ("h", "7. Background checks"),
    ("p", "Home delivery drivers, front desk volunteers and anyone working with our Kids Cafe program must pass a "
          "background check before starting. The food bank pays for the check, which usually takes 5 to 10 "
          "business days."),
    ("h", "8. Your status as a volunteer"),
    ("p", "You are a volunteer, not an employee. You will not be paid wages or benefits for your time, apart "
          "from the mileage reimbursement for delivery drivers. Volunteers are covered by the food bank's "
          "accident insurance while on a scheduled shift. Either you or the food bank may end this agreement at "
          "any time. The food bank may end it at once if a volunteer breaks the rules on safety, confidentiality "
          "or respect."),
    ("p", "We sometimes take photos at events for our newsletter and website. If you do not want to appear in "
          "them, tick the box below and tell the photographer."),
    ("h", "9. Contacts"),
    ("p", "Volunteer Coordinator: Marisol Vega, (555) 387-2260, volunteer@harborvalleyfoodbank.org. The volunteer "
          "office is open Monday to Friday, 8:30 a.m. to 4:30 p.m."),
    ("h", "10. Signature"),
    ("p", "I have read and agree to this Volunteer Agreement."),
    ("p", "Volunteer name: ______________________  Date of birth: ____________"),
    ("p", "Signature: ______________________  Date: ____________"),
    ("p", "Emergency contact (name and phone): ______________________"),
    ("p", "Parent or guardian signature (volunteers under 18): ______________________"),
    ("p", "[ ] I do not want to appear in photos taken by Harbor Valley Food Bank."),
]


def make_docx(path: Path) -> None:
    doc = Document()
    doc.core_properties.title = "Harbor Valley Food Bank - Volunteer Agreement"
    doc.core_properties.author = "Harbor Valley Food Bank"
    doc.styles["Normal"].font.size = Pt(11)
    for kind, content in VOLUNTEER:
        if kind == "title":
            doc.add_heading(content, level=0)
        elif kind == "h":
            doc.add_heading(content, level=1)
        elif kind == "p":
            doc.add_paragraph(content)
        elif kind == "li":
            doc.add_paragraph(content, style="List Bullet")
        elif kind == "table":
            table = doc.add_table(rows=len(content), cols=len(content[0]))
            table.style = "Table Grid"
            for r, row in enumerate(content):
                for c, cell in enumerate(row):
                    table.cell(r, c).text = cell
    # Fixed metadata dates, so that the file is the same each time the script runs.
    import datetime as dt
    stamp = dt.datetime(2025, 1, 15, 9, 0, 0)
    doc.core_properties.created = stamp
    doc.core_properties.modified = stamp
    doc.save(str(path))


def main() -> None:
    CORPUS.mkdir(exist_ok=True)
    make_pdf(CORPUS / "nimbo-v3-robot-vacuum-quick-start.pdf")
    make_docx(CORPUS / "harbor-valley-food-bank-volunteer-agreement.docx")
    for name in ("nimbo-v3-robot-vacuum-quick-start.pdf", "harbor-valley-food-bank-volunteer-agreement.docx"):
        print(CORPUS / name, (CORPUS / name).stat().st_size, "bytes")


if __name__ == "__main__":
    main()
