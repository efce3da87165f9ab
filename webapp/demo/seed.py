"""Demo data's words: the people, the businesses and the stories they tell, as templates.

A template picks one of each [a|b] alternative and fills in {biz} and {staff}; a story is
(channel, moment) for praise and (channel, moment, what would make it right) for complaints.
"""

from __future__ import annotations

from webapp.models import Channel

IN, PH, ON, SO = Channel.IN_PERSON, Channel.PHONE, Channel.ONLINE, Channel.SOCIAL

USERNAMES = ["maria_k", "tomasz", "aoife_r", "jonas_w", "priya_n", "ben_holt"]
# Some people post far more than others, as on any real site.
USER_WEIGHTS = [26, 20, 17, 15, 12, 10]

STAFF = "Ana Sam Priya Jamal Ola Kasia Ben Lucía Tom Yusuf Mei Dani Rosa Leon Niamh Marek".split()

# (name, domain, category, handle user or None); every domain is under .example.
BUSINESSES = [
    ("Beanline Coffee", "beanline.example", "cafe", "hello"),
    ("Little Fern Café", "littlefern.example", "cafe", None),
    ("Rye & Crumb Bakery", "ryeandcrumb.example", "bakery", "support"),
    ("Spoke & Chain Cycles", "spokeandchain.example", "bike shop", "shop"),
    ("Northwind Air", "northwindair.example", "airline", "help"),
    ("Bluegate Airways", "bluegate.example", "airline", None),
    ("Brightwave Mobile", "brightwave.example", "telecom", "support"),
    ("Fibrelink Broadband", "fibrelink.example", "telecom", None),
    ("Harbour Savings Bank", "harboursavings.example", "bank", "care"),
    ("Greenleaf Grocers", "greenleafgrocers.example", "grocery", None),
    ("Daily Basket", "dailybasket.example", "grocery", "team"),
    ("Paper Lantern Books", "paperlantern.example", "bookshop", "books"),
    ("Willow Street Pharmacy", "willowstreetpharmacy.example", "pharmacy", None),
    ("Ironbridge Hardware", "ironbridgehardware.example", "hardware store", None),
    ("Sunridge Energy", "sunridge.example", "energy supplier", "help"),
    ("Parcelpath", "parcelpath.example", "courier", None),
    ("Swift Hare Couriers", "swifthare.example", "courier", None),
    ("Copper Kettle Diner", "copperkettle.example", "restaurant", None),
    ("Riverside Vet Clinic", "riversidevets.example", "vet", None),
    ("Fixright Phone Repair", "fixright.example", "phone repair", "hello"),
]

# Text templates: [a|b|c] picks one alternative, {biz} and {staff} are filled in.
# Each template carries the channel it describes so text and channel agree, and each
# complaint carries the fix its writer would ask for, so the two belong together.
CATEGORIES: dict[str, dict] = {
    "cafe": {
        "weights": (10, 2),
        "remote": False,
        "praise": [
            (
                IN,
                "The barista remembered my order [after only two visits|from last week] and had "
                "it going before I reached the till.",
            ),
            (
                IN,
                "{staff} noticed I'd dropped my [gloves|scarf|bus pass] on the way out and ran "
                "after me down the street with it.",
            ),
            (
                IN,
                "Laptop died mid-meeting and they found me a seat by the only free socket "
                "without me even asking.",
            ),
            (
                IN,
                "Asked for oat milk after they'd already poured the [latte|flat "
                "white|cappuccino]; {staff} just remade it, smiling, no charge.",
            ),
            (
                IN,
                "They kept the espresso machine on ten minutes past closing so a soaked cyclist "
                "could get a hot chocolate. That cyclist was me.",
            ),
            (
                IN,
                "My toddler knocked a full glass of water over the table and {staff} cleaned it "
                "up, brought a fresh one and a colouring sheet.",
            ),
            (
                SO,
                "Messaged them to ask if the [cinnamon buns|banana bread|brownies] were "
                "gluten-free and got a real, detailed answer within the hour.",
            ),
        ],
        "complaint": [
            (
                IN,
                "Waited [25|30|35] minutes for two coffees while three people who ordered after "
                "us were served first.",
                "Just an apology, and a look at how the queue works at busy times.",
            ),
            (
                IN,
                "Was charged for oat milk on both drinks when only one had it, and the person at "
                "the till said they couldn't refund it.",
                "Refund the extra charge; it's small, but it's mine.",
            ),
            (
                IN,
                "Found a [hair|bit of plastic] in my [sandwich|salad]; the staff shrugged and "
                "said the kitchen was busy.",
                "Refund it and tell the kitchen.",
            ),
            (
                ON,
                "Pre-ordered in the app for 8:15, turned up at 8:20 and the order hadn't even "
                "been started.",
                "Make sure app orders actually reach the counter.",
            ),
        ],
    },
    "bakery": {
        "weights": (8, 2),
        "remote": False,
        "praise": [
            (
                IN,
                "They'd sold out of sourdough, so {staff} went into the back and sold me the "
                "loaf they'd put aside to take home.",
            ),
            (
                IN,
                "Ordered a birthday cake with two days' notice and it was [perfect|better than "
                "the picture], with the name spelled right first time.",
            ),
            (
                IN,
                "Saturday queue out the door and still every single person got a 'good morning' "
                "and a proper chat.",
            ),
            (IN, "{staff} double-bagged the croissants because it was pouring and I'd walked."),
            (
                PH,
                "Rang to ask about nut-free options for my son; they talked me through every "
                "item on the counter.",
            ),
            (
                SO,
                "Posted that I missed the [rye|seeded] loaf; they brought it back on Fridays and "
                "tagged me to say so.",
            ),
        ],
        "complaint": [
            (
                IN,
                "Picked up a pre-paid cake for a party and it had the wrong name on it. Nobody "
                "offered to fix it or refund anything.",
                "A refund for the cake, and a look at how orders get written down.",
            ),
            (
                IN,
                "Bought a loaf on [Tuesday|Wednesday] morning that was mouldy inside by the same "
                "evening.",
                "Replace the loaf, that's all.",
            ),
            (
                PH,
                "Phoned in an order for a [funeral|christening] buffet and it was lost; we found "
                "out when we went to collect it.",
                "An apology, and the deposit back.",
            ),
        ],
    },
    "bike shop": {
        "weights": (6, 2),
        "remote": False,
        "praise": [
            (
                IN,
                "Popped in with a flat on my way to work and {staff} fixed it while I waited, "
                "then wouldn't take any money for it.",
            ),
            (
                IN,
                "They talked me out of the expensive [wheels|groupset|upgrade] I came in for and "
                "fixed the [gears|brakes] for a tenner instead.",
            ),
            (
                IN,
                "Service done a day early, and they'd [cleaned the chain|trued the back wheel] "
                "without charging for it.",
            ),
            (
                PH,
                "Called in a panic the evening before a [charity ride|sportive]; they stayed "
                "open late to fit a new [chain|tyre].",
            ),
            (
                IN,
                "{staff} spent twenty minutes adjusting my daughter's first proper bike so she "
                "could reach the brakes.",
            ),
        ],
        "complaint": [
            (
                IN,
                "Booked a service for last week, the bike still hasn't been looked at, and "
                "nobody called to say.",
                "Finish the service this week or give the bike back and refund the deposit.",
            ),
            (
                IN,
                "Paid for new brake pads and the [front|back] brake was rubbing before I'd made "
                "it home.",
                "Refit the brakes properly, free of charge.",
            ),
            (
                PH,
                "Rang four times to ask when my bike would be ready; twice nobody answered and "
                "twice I was told 'tomorrow'.",
                "A call when the work is actually done.",
            ),
        ],
    },
    "airline": {
        "weights": (3, 7),
        "remote": True,
        "praise": [
            (
                IN,
                "Missed my connection after a late inbound, and the gate agent had already "
                "rebooked me and printed a meal voucher before I reached the desk.",
            ),
            (
                IN,
                "The crew noticed my [mum|dad] was a nervous flyer and came by [every half "
                "hour|a few times] just to chat.",
            ),
            (
                PH,
                "My name was misspelled on the ticket; the agent fixed it in ten minutes with no "
                "fee.",
            ),
            (
                ON,
                "Refund for the cancelled flight arrived in [four|five] days, before I'd even "
                "chased it.",
            ),
            (
                SO,
                "Messaged them about a [broken|cracked] suitcase and they arranged a pickup for "
                "the repair the next morning.",
            ),
            (
                IN,
                "Check-in staff found two seats together for me and my [son|daughter] on a full "
                "flight.",
            ),
        ],
        "complaint": [
            (
                PH,
                "Waited [40|55|70] minutes on hold, then the line went dead just as I got through.",
                "A callback instead of another hour on hold.",
            ),
            (
                ON,
                "Flight cancelled [two days|the night] before. The refund form keeps erroring, "
                "and it's been [three|five] weeks.",
                "Refund the ticket, as the rules require.",
            ),
            (
                IN,
                "Bag didn't arrive. The desk at arrivals gave us a reference number, and that is "
                "all we've heard since.",
                "Find my bag, or pay for what was in it.",
            ),
            (
                IN,
                "Charged a fee at the gate for a cabin bag that fit the sizer, which the staff "
                "member admitted.",
                "Refund the bag fee.",
            ),
            (
                SO,
                "Sent a polite message about the missing bag; got a copy-paste reply and then "
                "nothing for [ten|twelve] days.",
                "A straight answer about where my bag is.",
            ),
        ],
    },
    "telecom": {
        "weights": (3, 8),
        "remote": True,
        "praise": [
            (
                PH,
                "First time in years a phone company solved something on the first call. {staff} "
                "stayed on the line until the [router|SIM] was definitely working.",
            ),
            (
                PH,
                "Called to cancel, explained money was tight, and they moved me to a cheaper "
                "plan instead of the hard sell.",
            ),
            (
                IN,
                "The shop assistant spent half an hour moving my [dad's|mum's] contacts and "
                "photos to the new phone, no charge.",
            ),
            (
                ON,
                "Live chat actually had a person on it, and they credited the outage day to my "
                "bill without me asking.",
            ),
            (
                SO,
                "Posted about the outage on our street and got a reply with an engineer's time "
                "slot within the hour.",
            ),
            (
                IN,
                "Engineer turned up [early|right on time], fixed the line, and explained what "
                "had gone wrong instead of just leaving.",
            ),
        ],
        "complaint": [
            (
                PH,
                "Waited [40|50|65] minutes on hold, then got passed between three departments "
                "and cut off.",
                "One person who owns the problem until it's fixed.",
            ),
            (
                ON,
                "Internet has dropped every evening for [two|three] weeks. The online checker "
                "says 'no known issues'.",
                "Send an engineer, and credit the days without service.",
            ),
            (
                ON,
                "Billed for a [roaming|premium] add-on I never turned on, and the chat says they "
                "can't remove past charges.",
                "Remove the charge and refund it.",
            ),
            (
                IN,
                "Engineer appointment was 8 to 1. Nobody came, nobody called, and I'd taken the "
                "morning off.",
                "A new appointment that's kept, and something for the wasted morning.",
            ),
            (
                PH,
                "Asked to cancel within the cooling-off period and was told I'd have to pay the "
                "rest of the contract.",
                "Let me cancel, as the contract says I can.",
            ),
        ],
    },
    "bank": {
        "weights": (3, 5),
        "remote": True,
        "praise": [
            (
                PH,
                "My card was skimmed abroad. One phone call and they'd blocked it, refunded "
                "everything and had a new card on its way.",
            ),
            (
                IN,
                "The branch staff sat with my [nan|grandad] for an hour setting up the app, with "
                "real patience.",
            ),
            (
                ON,
                "Flagged a suspicious transfer in the app and the fraud team called me back "
                "within [ten|fifteen] minutes. Money safe.",
            ),
            (
                PH,
                "The mortgage adviser explained every fee in plain words and told me which ones "
                "I could skip.",
            ),
            (
                IN,
                "Lost my card on a Saturday; the branch printed me a temporary one before I left.",
            ),
        ],
        "complaint": [
            (
                ON,
                "The app has been logging me out mid-payment for a week, and my [rent|gas bill] "
                "went out twice.",
                "Refund the duplicate payment and fix the app.",
            ),
            (
                PH,
                "Card blocked 'for security' while I was away, then [45|50] minutes on hold to "
                "unblock it.",
                "A text before blocking the card, or a shorter queue to unblock it.",
            ),
            (
                IN,
                "The branch turned me away for not having an appointment, after the phone line "
                "told me I didn't need one.",
                "Give the phone line and the branches the same rules.",
            ),
            (
                PH,
                "Charged an overdraft fee caused by their own delayed transfer, and they've "
                "refused to waive it twice.",
                "Waive the fee; it was their delay.",
            ),
        ],
    },
    "grocery": {
        "weights": (8, 4),
        "remote": False,
        "praise": [
            (
                IN,
                "The self-checkout froze with my card in it; {staff} sorted it in a minute and "
                "carried my bags to the car because I was on crutches.",
            ),
            (
                IN,
                "Asked where the [tahini|rice noodles|gluten-free pasta] was and {staff} walked "
                "me to it instead of pointing.",
            ),
            (
                ON,
                "The delivery driver called ahead, carried everything up to the third floor, and "
                "the substitutions were actually sensible.",
            ),
            (
                IN,
                "Dropped a jar of [pasta sauce|honey] in the aisle, mortified, and the staff "
                "just said 'happens ten times a day' and cleaned it up.",
            ),
            (
                IN,
                "They opened another till the moment the queue got long, which sounds small but "
                "never happens.",
            ),
            (
                IN,
                "The cashier noticed I'd been charged twice for the [melon|strawberries] and "
                "fixed it before I'd even looked.",
            ),
        ],
        "complaint": [
            (
                ON,
                "Half the delivery was substituted with things we can't eat, and the "
                "[milk|yoghurt] was out of date.",
                "Refund the substitutions and the out-of-date items.",
            ),
            (
                IN,
                "The shelf said [two for one|half price], the till charged full price, and the "
                "supervisor said the sign was 'old'.",
                "Honour the price on the shelf.",
            ),
            (
                ON,
                "Delivery slot missed entirely, no notification, and the refund is still "
                "'pending' [a week|ten days] later.",
                "Refund the missed delivery.",
            ),
            (
                IN,
                "One till open at 6 pm on a weekday, and the queue went to the back of the shop.",
                "Open a second till when it gets busy.",
            ),
        ],
    },
    "bookshop": {
        "weights": (6, 1),
        "remote": False,
        "praise": [
            (
                IN,
                "Couldn't remember the title, only that the cover was [blue|green] and had a "
                "lighthouse on it; {staff} found it in two minutes.",
            ),
            (
                ON,
                "Ordered a book that's out of print; they tracked down a second-hand copy and "
                "emailed to check with me first.",
            ),
            (
                IN,
                "They let my kids sit on the floor reading for an hour, then picked three books "
                "perfect for a [seven|nine]-year-old.",
            ),
            (
                IN,
                "Gift-wrapped a present for free and tucked a little card in because I'd "
                "mentioned it was for my [sister|friend]'s birthday.",
            ),
            (
                SO,
                "Asked online whether they had a signed copy; they held it for me until Saturday.",
            ),
        ],
        "complaint": [
            (
                ON,
                "Online order marked delivered, never arrived, and the contact form just returns "
                "an error.",
                "Resend the book or refund it.",
            ),
            (
                IN,
                "Was told a special order would take a week; it's been [four|five] weeks with no "
                "update.",
                "Just tell me whether it's coming at all.",
            ),
        ],
    },
    "pharmacy": {
        "weights": (5, 3),
        "remote": False,
        "praise": [
            (
                IN,
                "The pharmacist spotted that two of my [mum's|dad's] medicines clash and phoned "
                "the GP to sort it out.",
            ),
            (IN, "Came in at 5:58 for my son's inhaler; they stayed open and found it for me."),
            (
                PH,
                "Rang to ask about a rash and the pharmacist gave real advice and told me when "
                "to worry, which was what I needed.",
            ),
            (
                IN,
                "The prescription was ready [in ten minutes|before I'd finished shopping], and "
                "{staff} wrote the dose on the box in big numbers for my gran.",
            ),
        ],
        "complaint": [
            (
                IN,
                "Prescription 'not in yet' three days running, after the text said it was ready "
                "to collect.",
                "Get the texts right so I don't make wasted trips.",
            ),
            (
                IN,
                "They discussed my prescription loudly at the counter with a queue behind me, "
                "when there's a consultation room.",
                "Use the private room for medical questions.",
            ),
            (
                PH,
                "The phone rings out every time. Went in instead and the queue took [45|50] "
                "minutes.",
                "Someone answering the phone, even for an hour a day.",
            ),
        ],
    },
    "hardware store": {
        "weights": (5, 1),
        "remote": False,
        "praise": [
            (
                IN,
                "Brought in an odd old [tap washer|hinge|screw] and {staff} found the exact "
                "match in a drawer at the back.",
            ),
            (
                IN,
                "Told them what I was fixing and they talked me out of a whole new [tap|lock] — "
                "one cheap part did it.",
            ),
            (IN, "They cut the keys while I waited and tested them in a spare lock to be sure."),
            (
                IN,
                "Helped me fit [two bags of cement|a pile of timber] into a small hatchback "
                "without being asked twice.",
            ),
            (
                PH,
                "Rang to check they had the [filler|sealant] in stock; they put one aside with "
                "my name on it.",
            ),
        ],
        "complaint": [
            (
                IN,
                "Keys cut here didn't work in either lock, and they wanted to charge again to "
                "recut them.",
                "Recut the keys for free.",
            ),
            (
                IN,
                "Returned an unused [drill|sander] with the receipt within a week and was only "
                "offered store credit.",
                "A refund, as the returns policy says.",
            ),
        ],
    },
    "energy supplier": {
        "weights": (2, 7),
        "remote": True,
        "praise": [
            (
                PH,
                "Explained I was struggling with the bill and they set up a payment plan on the "
                "call, no lecture, no fees.",
            ),
            (
                ON,
                "A meter reading had been entered wrong; I sent a photo and the corrected bill "
                "came back the same day.",
            ),
            (
                PH,
                "{staff} noticed we'd been on the wrong tariff for months, moved us, and "
                "credited the difference.",
            ),
            (
                SO,
                "Power cut on our street; they answered every question with real times, and the "
                "times were right.",
            ),
        ],
        "complaint": [
            (
                ON,
                "Bill tripled after an 'estimated' reading. I've sent the real reading "
                "[three|four] times.",
                "Use my real meter reading and correct the bill.",
            ),
            (
                PH,
                "Waited an hour on hold to report a wrong bill and was told to use the website, "
                "which is down.",
                "Correct the bill, and get the website working.",
            ),
            (
                ON,
                "Direct debit raised without notice, and the 'explain my bill' page just says "
                "error.",
                "Put the direct debit back to what we agreed.",
            ),
            (
                ON,
                "Switched away [two|three] months ago and they're still taking payments.",
                "Refund the payments taken after I left.",
            ),
        ],
    },
    "courier": {
        "weights": (4, 6),
        "remote": True,
        "praise": [
            (
                IN,
                "The driver saw it was about to pour and left the parcel with my neighbour, with "
                "a card saying which number.",
            ),
            (
                IN,
                "Delivered a [huge|very heavy] box up four flights of stairs with no lift and "
                "not a word of complaint.",
            ),
            (
                ON,
                "The tracking told the truth for once: a ten-minute window, and the van arrived "
                "inside it.",
            ),
            (
                ON,
                "My parcel went to the wrong town; support found it, texted me updates, and had "
                "it with me the next day.",
            ),
            (
                SO,
                "Messaged about a missing parcel and a real person replied with the driver's "
                "photo of where it was left.",
            ),
        ],
        "complaint": [
            (
                ON,
                "Marked 'delivered' with a photo of a door that isn't mine. The chat says to "
                "wait 48 hours.",
                "Find the parcel or refund the sender.",
            ),
            (
                IN,
                "A card through the door saying 'no answer' while I was sitting right next to "
                "it. Nobody knocked.",
                "Redeliver it, and knock next time.",
            ),
            (
                IN,
                "Parcel left out in the rain on the doorstep, and the [birthday "
                "present|book|clothes] inside soaked through.",
                "Replace what got soaked.",
            ),
            (
                PH,
                "The phone line is a recording that sends you to the website. The website sends "
                "you to the phone line.",
                "A way to reach an actual person.",
            ),
        ],
    },
    "restaurant": {
        "weights": (6, 2),
        "remote": False,
        "praise": [
            (
                IN,
                "Mentioned my [nut|shellfish] allergy and the chef came out to explain what was "
                "safe. Felt completely looked after.",
            ),
            (
                IN,
                "Birthday dinner for my mum and they [brought a candle in her dessert|sang to "
                "her, quietly and nicely] without us asking.",
            ),
            (
                PH,
                "Rang to book a table for eight with a wheelchair user; they rearranged the room "
                "and it was perfect.",
            ),
            (
                IN,
                "The kitchen had run out of the special, so {staff} brought us a taste of "
                "something new on the house.",
            ),
        ],
        "complaint": [
            (
                IN,
                "Waited an hour and a half for mains, and when we asked, the server said 'the "
                "kitchen is slammed' and walked off.",
                "An apology would do; we'd like to come back.",
            ),
            (
                PH,
                "Booked a table for a birthday by phone and arrived to find no booking and no "
                "table.",
                "Keep a proper record of phone bookings.",
            ),
            (
                IN,
                "Told them about a [nut|sesame] allergy and the dish still came with "
                "[nuts|sesame] on it.",
                "An apology, and a serious word with the kitchen about allergies.",
            ),
        ],
    },
    "vet": {
        "weights": (5, 1),
        "remote": False,
        "praise": [
            (
                IN,
                "Our old cat was in a bad way late one evening and the vet stayed well past "
                "closing to help. They even sent a card afterwards.",
            ),
            (
                PH,
                "The nurse called the day after the [op|surgery] just to check how our dog was "
                "doing.",
            ),
            (
                IN,
                "They explained every option and every price before doing anything, including "
                "the cheaper one.",
            ),
            (IN, "{staff} sat on the floor with our terrified rescue dog until she calmed down."),
        ],
        "complaint": [
            (
                IN,
                "The bill was nearly double the estimate and nobody told us before they went "
                "ahead.",
                "An itemised bill, and a call before going over the estimate next time.",
            ),
            (
                PH,
                "Asked twice for a callback about test results and waited four days.",
                "A callback when results come in.",
            ),
        ],
    },
    "phone repair": {
        "weights": (4, 2),
        "remote": False,
        "praise": [
            (
                IN,
                "Screen replaced in forty minutes, cheaper than quoted, and they put a free "
                "protector on.",
            ),
            (
                IN,
                "{staff} said the repair wasn't worth it on a phone that old and helped me copy "
                "my photos off instead, no charge.",
            ),
            (
                ON,
                "Booked online, turned up, and the phone was fixed while I had a coffee next door.",
            ),
            (IN, "Battery swap done the same day, and they showed me what had been going wrong."),
        ],
        "complaint": [
            (
                IN,
                "The new screen stopped responding at the edges after [two|three] days, and they "
                "want to charge for a 'second repair'.",
                "Fix it properly under the warranty.",
            ),
            (
                IN,
                "The phone came back with face unlock broken, which worked fine before.",
                "Repair what broke, or refund the work.",
            ),
        ],
    },
}

# Moments that fit any shop (counter service) or any remote service, for extra variety.
GENERIC = {
    (False, "praise"): [
        (
            IN,
            "Everyone was friendly and quick, and {staff} took the time to [explain "
            "everything|answer all my questions|find exactly what I needed].",
        ),
        (
            IN,
            "Went in stressed and came out smiling. {staff} was patient with every single "
            "question.",
        ),
        (IN, "Busy [Saturday|lunchtime|Friday evening] and still nobody rushed me."),
        (
            PH,
            "Rang with a fiddly question and got a straight, friendly answer from {staff} in two "
            "minutes.",
        ),
    ],
    (True, "praise"): [
        (
            PH,
            "Got through in under five minutes and {staff} fixed it on that call. No transfers, "
            "no 'I'll raise a ticket'.",
        ),
        (
            PH,
            "{staff} was [patient|calm and kind] while I dug through paperwork, and stayed on "
            "until everything was sorted.",
        ),
        (ON, "Chat support answered in minutes with a real answer, not a link to a help page."),
        (
            SO,
            "Replied to my message [the same evening|within the hour] and followed up the next "
            "day to check it was fixed.",
        ),
    ],
    (False, "complaint"): [
        (
            IN,
            "Staff were chatting among themselves while a queue built up, and nobody looked up "
            "when I asked for help.",
            "Nothing dramatic: just someone at the counter when there's a queue.",
        ),
        (
            IN,
            "Asked a simple question and was told 'not my department' twice.",
            "Point me to someone who can help.",
        ),
    ],
    (True, "complaint"): [
        (
            PH,
            "Promised a callback [within 24 hours|by the end of the day]. That was [last "
            "week|nine days ago].",
            "The callback I was promised.",
        ),
        (
            PH,
            "Explained the problem to [four|five] different people, and each one asked me to "
            "start again from the beginning.",
            "A reference number that follows me, so I don't start again each time.",
        ),
        (
            ON,
            "Complaint form sent [twice|three times]; the automatic reply says 5 working days. "
            "It's been [three weeks|a month].",
            "A reply from a person, and a fix.",
        ),
        (
            SO,
            "Their public reply said 'please DM us'. I did, and have heard nothing since.",
            "An actual reply to my message.",
        ),
    ],
}

OPENERS = {
    "praise": [
        "Quick shout-out to {biz}.",
        "Small thing, but it made my day.",
        "Credit where it's due.",
        "Been meaning to post this for a while.",
        "Wanted to put this somewhere public.",
        "Another good one from {biz}.",
    ],
    "complaint": [
        "Not a rant, just what happened.",
        "Long-time customer, first complaint.",
        "Posting here because email got nowhere.",
        "[Second|Third] time this [month|year].",
        "Trying to keep this calm.",
    ],
}

CLOSERS = {
    "praise": [
        "Thank you!",
        "Will definitely be back.",
        "This is how it should be done.",
        "Made a rubbish week a lot better.",
        "Honestly didn't expect that.",
        "More of this, please.",
        "Small things matter.",
        "Thanks, {staff}, if you see this.",
        "Recommending them to everyone I know.",
    ],
    "complaint": [
        "Nobody has replied to my email since.",
        "I've had to take [a day|a morning] off work because of it.",
        "Still waiting for an update.",
        "I'd like to stay a customer, but this makes it hard.",
        "I get that things go wrong; it's the silence that bothers me.",
        "Hoping someone from {biz} reads this.",
    ],
}

RESOLUTION_NOTES = [
    "They called, apologised and refunded it.",
    "Sorted after I emailed the manager.",
    "Refund came through today.",
    "Got a proper apology and a voucher.",
    "Fixed on the second try.",
    "Someone senior rang back and put it right.",
]

FOLLOW_UPS = [
    "Update on my earlier complaint: [they called me back|the manager got in touch] and [sorted "
    "it properly|put it right]. Credit where it's due.",
    "Following up: {biz} [refunded it|fixed it] and apologised. That's all I wanted. Thank you.",
    "They did fix it in the end, and [quicker than I expected|without any more chasing]. Happy to "
    "say so in public.",
    "The other half of the story: it's resolved, and {staff}, who handled it, was [kind|great] "
    "about the whole thing.",
    "Happy ending: [a replacement arrived|they refunded the lot], and {staff} checked in "
    "afterwards to make sure all was well.",
]
