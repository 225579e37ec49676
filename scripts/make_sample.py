#!/usr/bin/env python3
"""Generate the bundled demo dataset ``tfclf/resources/support_tickets.csv``.

The dataset is synthetic: every ticket is composed from the hand-written building
blocks below (openers, per-class issue phrases, details, closers) plus randomly
filled slots (order ids, amounts, emails, URLs, devices, ...). A small share of
tickets are deliberately ambiguous (e.g. a billing complaint that mentions an app
crash) so a classifier cannot reach 100% trivially.

The script uses only the standard library and a fixed seed, and never iterates
over sets or hash-ordered containers, so its output is byte-identical on every
run and every platform:

    python scripts/make_sample.py                 # writes the resources file
    python scripts/make_sample.py --output x.csv  # writes elsewhere
"""
from __future__ import annotations

import argparse
import csv
import io
import random
import re
from pathlib import Path

SEED = 20240611
DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "tfclf" / "resources" / "support_tickets.csv"

LABELS = ["billing", "technical", "account", "shipping", "feedback"]
# Slightly uneven on purpose (real queues are never perfectly balanced); all within
# +/-10% of the mean of 96.
TARGET_COUNTS = {"billing": 100, "technical": 104, "account": 92, "shipping": 96, "feedback": 88}

MIN_WORDS, MAX_WORDS = 5, 30

# Probabilities of the optional parts / styles.
P_OPENER = 0.55
P_DETAIL = 0.5
P_CLOSER = 0.55
P_HARD = 0.11
P_SHORT = 0.1
P_TYPO = 0.14
P_LOWER = 0.08
P_SHOUT_WORD = 0.05
P_ALL_CAPS = 0.015
P_NO_FINAL_PUNCT = 0.12

# --------------------------------------------------------------------------- #
# Shared building blocks
# --------------------------------------------------------------------------- #
OPENERS = [
    "Hi,", "Hello,", "Hey,", "Hi team,", "Hello support,", "Good morning,", "Hi there,",
    "Dear support team,", "Hey folks,", "Good afternoon,", "Hi, quick question.",
    "Hello, hoping you can help.", "Urgent:", "hi", "Hiya,", "Evening,", "Hello again,",
    "Sorry to bother you but", "Not sure who to ask but", "Quick one:",
    "Hi {name} here.", "Hey it's {name}.", "To whom it may concern,",
]

CLOSERS = [
    "Thanks.", "Thanks!", "thx", "Please help.", "Any help appreciated.", "Thanks in advance.",
    "Cheers, {name}", "Regards, {name}", "pls advise", "Appreciate it.",
    "Can someone get back to me?", "This is the second time I'm writing.", "ASAP please.",
    "Thank you!", "ty", "Let me know.", "Waiting for your reply.", "- {name}",
    "Kind regards.", "Would appreciate a quick answer.",
]

# Standalone short messages (no opener / detail added).
SHORT = {
    "billing": [
        "Refund please, charged twice again.", "why was I charged {amount}??",
        "Need an invoice for {month} please.", "Cancel my subscription and refund {amount}.",
        "My card keeps getting declined at checkout.", "charged after I cancelled, not ok",
        "What is this {amount} charge?", "How do I update my payment card?",
    ],
    "technical": [
        "App crashes on startup, every time.", "site is down for me??",
        "Getting {error} on every page.", "Export button does nothing at all.",
        "App won't open after the update.", "sync broken since yesterday on {device}",
        "Search returns nothing, is it broken?", "Dark mode makes text unreadable, bug?",
    ],
    "account": [
        "Locked out of my account, help.", "password reset email never arrives",
        "How do I delete my account?", "Please change my email to {email}.",
        "Lost my phone, cant do 2FA.", "Someone else logged into my account!",
        "Need to rename my username please.", "how do i merge two accounts",
    ],
    "shipping": [
        "Where is my order {order}?", "tracking hasn't updated in {n} days",
        "Package arrived damaged, what now?", "Wrong item delivered for {order}.",
        "Do you ship to {country}?", "my parcel says delivered but nothing here",
        "Can I change the delivery address?", "Still waiting on order {order}!!",
    ],
    "feedback": [
        "Love the new design, great job!", "Please add a dark mode, thanks.",
        "Honestly the best app I use daily.", "The new update feels slower, just saying.",
        "Would love an export to Excel option.", "Your support team was super helpful today.",
        "the onboarding is confusing tbh", "Five stars, keep up the good work!",
    ],
}

# --------------------------------------------------------------------------- #
# Per-class issue phrases
# --------------------------------------------------------------------------- #
ISSUES = {
    "billing": [
        "I was charged twice for my {plan} this month.",
        "There's a charge of {amount} on my card I don't recognise.",
        "I cancelled {when} but you still billed me {amount}.",
        "Can I get a refund for the last payment?",
        "My invoice shows the wrong VAT number.",
        "I need a copy of my invoice for {month} for my accountant.",
        "The promo code {promo} was not applied to my bill.",
        "Why did my subscription price go up without notice?",
        "My card ending {card4} was declined but I have funds.",
        "I downgraded to the {plan} but I'm still paying the old price.",
        "Please switch me from monthly to annual billing.",
        "I was billed {amount} instead of {amount2}.",
        "How do I update the credit card on file?",
        "The free trial was supposed to be free, yet I got charged.",
        "I'd like a refund, the renewal went through by mistake.",
        "The receipt for order {order} is missing the company address.",
        "You charged me in USD but I'm in Europe and expected EUR.",
        "Can you explain the extra fee of {amount} on my statement?",
        "I want to pay by bank transfer instead of card.",
        "My payment failed and now my account says overdue.",
        "I got a chargeback notice, what does that mean for me?",
        "The invoice total doesn't match what the pricing page says.",
        "Is there a discount for nonprofits or students?",
        "Please stop the auto-renewal on my {plan}.",
        "Two seats were added to my bill that nobody asked for.",
        "Paypal shows a pending payment of {amount} from you twice.",
        "I need the billing address on my invoices changed.",
        "Refund for {order} was promised {n} days ago and hasn't arrived.",
    ],
    "technical": [
        "The app crashes as soon as I open it on my {phone}.",
        "I'm getting {error} when I try to upload a file.",
        "The dashboard takes forever to load in {browser}.",
        "Sync between my phone and laptop stopped working.",
        "Notifications aren't coming through anymore.",
        "After updating to version {version} the app freezes.",
        "The export to PDF produces a blank document.",
        "Your API returns {error} for every request since {day}.",
        "Images don't load on {url}, just broken icons.",
        "Search is super slow and sometimes returns nothing.",
        "The page at {url} is stuck on a spinner.",
        "The calendar widget shows the wrong time zone.",
        "Two-way sync with Google Drive duplicates every file.",
        "The app drains my battery really fast since the update.",
        "Buttons overlap on small screens so I can't tap save.",
        "I keep getting logged out every few minutes, looks like a bug.",
        "The webhook stopped firing after we changed the endpoint.",
        "CSV import fails with {error} on row {n}.",
        "Video calls drop after about {n} minutes.",
        "The desktop app won't install on my {computer}, installer just quits.",
        "Everything I type in the editor lags a few seconds behind.",
        "The site shows {error} whenever I click reports.",
        "Attachments over {n} MB fail to upload without any message.",
        "Dark mode breaks the charts, the labels disappear.",
        "The mobile app shows old data even after refreshing.",
        "Printing from the browser cuts off half the page.",
        "Integration with Slack stopped posting messages.",
        "The app crashes when I rotate my {phone}.",
    ],
    "account": [
        "I can't reset my password, the link says expired.",
        "I'm locked out after too many login attempts.",
        "Please change the email on my account to {email}.",
        "I lost my phone and can't get the two-factor code.",
        "How do I delete my account and all my data?",
        "I think someone else has access to my account.",
        "I have two accounts and want to merge them.",
        "Can I change my username from {user} to something else?",
        "The verification email never arrived at {email}.",
        "I want to add a teammate as an admin on my account.",
        "My account was suspended and I don't know why.",
        "How do I turn on two-factor authentication?",
        "Please remove my old email {email} from my profile.",
        "I signed up with Google and now can't log in with a password.",
        "I need to transfer ownership of the workspace to a colleague.",
        "Can you reactivate my account, I closed it by accident.",
        "My profile photo and name keep reverting.",
        "I never requested a password reset but got {n} emails about it.",
        "How can I download a copy of my personal data?",
        "I left my old company and need access moved to my new email.",
        "My security questions aren't accepted even though they're right.",
        "Please update the phone number on my account.",
        "The account settings page won't let me change my display name.",
        "I'd like to close my account permanently.",
        "A former employee still has login access, please revoke it.",
        "Got a login alert from {country}, that wasn't me.",
    ],
    "shipping": [
        "My order {order} still hasn't arrived after {n} days.",
        "Tracking for {order} hasn't updated since {day}.",
        "The package arrived damaged, the box was crushed.",
        "I received the wrong item in order {order}.",
        "Can I change the delivery address for {order}?",
        "{carrier} says delivered but there's nothing at my door.",
        "How long does shipping to {country} usually take?",
        "My parcel is stuck in customs, what do I need to do?",
        "Half of my order is missing from the box.",
        "Can I pick up the order at a store instead?",
        "The courier left my package in the rain and it's soaked.",
        "Is express shipping available for {order}?",
        "The delivery window keeps getting pushed back.",
        "I need to return an item, how do I get a shipping label?",
        "Order {order} shows shipped but the tracking number is invalid.",
        "{carrier} tried to deliver while I was home, no knock.",
        "Please hold my order, I'm travelling until {future}.",
        "Do you ship to PO boxes?",
        "My package was sent back to the warehouse, why?",
        "The estimated delivery date was {day} and it's still not here.",
        "Two boxes arrived but order {order} should have three.",
        "The item came without the charger that was listed.",
        "The {carrier} driver says the address is wrong but it isn't.",
        "Can you split my order so the in-stock items ship now?",
        "Is it possible to ship to my office in {city} instead?",
        "The parcel was delivered to my neighbour at the wrong number.",
    ],
    "feedback": [
        "I really like the new dashboard, much cleaner than before.",
        "It would be great if you added a dark mode.",
        "Your support agent {agent} was incredibly helpful.",
        "The new menu layout is confusing, I liked the old one better.",
        "Please consider adding keyboard shortcuts for power users.",
        "Just wanted to say the app has saved me hours every week.",
        "The onboarding tutorial is too long, most people will skip it.",
        "Would love an integration with Notion someday.",
        "The font on the mobile app is too small to read comfortably.",
        "Great product overall, but the colors are a bit harsh.",
        "Suggestion: let us pin favourite projects to the top.",
        "I recommended you to my whole team, keep it up.",
        "The latest redesign feels cluttered, fewer buttons please.",
        "It'd be nice to get a weekly summary email.",
        "Honestly the best tool in this category I've tried.",
        "Feature request: bulk edit for tags.",
        "The help articles are well written and easy to follow.",
        "Please bring back the compact list view.",
        "I'd pay more for an offline mode.",
        "The new icons look great on my {device}.",
        "Your newsletter is too frequent, once a month would be enough.",
        "Love the product, but the sound effects are annoying.",
        "Could you add more templates for small businesses?",
        "The survey you sent was way too long.",
        "Quick feedback: the new landing page is very well done.",
        "Not a problem, just an idea: a shared team inbox would be amazing.",
    ],
}

# Optional extra sentence giving context.
DETAILS = {
    "billing": [
        "Order number is {order}.", "The charge was on {day}.", "My account email is {email}.",
        "I'm on the {plan}.", "Card ends in {card4}.", "Amount was {amount}.",
        "Bank statement attached.", "This happened last month too.",
        "I've been a customer for {n} years.", "Our finance team needs this by Friday.",
        "Invoice link: {invoice_url}", "I already checked my bank, it went through.",
    ],
    "technical": [
        "I'm using {browser} on {device}.", "App version {version}.",
        "Cleared cache and reinstalled, no luck.", "Screenshot here: {shot}",
        "It started {when}.", "It happens every single time.",
        "My colleague has the same problem.", "Restarting doesn't help.",
        "Console shows {error}.", "It worked fine last week.",
        "Tried on wifi and mobile data.", "Happens on {device} too.",
    ],
    "account": [
        "My login email is {email}.", "Username is {user}.", "I've tried {n} times already.",
        "I don't have access to the old phone anymore.", "It's a work account.",
        "I'm the workspace owner.", "Account was created in {year}.",
        "I checked spam, nothing there.", "I can verify my identity if needed.",
        "This is urgent, I have a deadline.", "My old address was {email}.",
    ],
    "shipping": [
        "Tracking number is {tracking}.", "It was shipped with {carrier}.",
        "I paid for express delivery.", "The order was placed on {day}.",
        "I'm in {city}.", "It's a gift so timing matters.", "Photo of the box: {shot}",
        "The order number is {order}.", "Nobody answers at the depot.",
        "I've been waiting {n} days.", "The address on the order is correct.",
    ],
    "feedback": [
        "Been using it for {n} months.", "Just my two cents.", "No reply needed.",
        "Otherwise everything is great.", "Most of my team feels the same.",
        "Keep up the good work.", "I'm on {device} if that matters.",
        "Happy to chat more about it.", "Not a complaint, just a thought.",
        "Thanks for listening.",
    ],
}

# Deliberately ambiguous tickets: the label is the "routing" answer, but the text
# mentions vocabulary from other classes.
HARD = {
    "billing": [
        "The app crashed during checkout and now I see two charges of {amount}.",
        "Your site threw {error} while paying but my card was still charged.",
        "I deleted my account weeks ago, why am I still being billed?",
        "My package never came and I want my {amount} back to my card.",
        "Love the product but I was charged {amount} for a plan I never picked.",
        "The app logged me out mid-payment and I got charged anyway.",
        "I can't log in to download my invoices for {month}, please email them.",
        "Shipping was charged twice on order {order}, please refund one.",
        "After the update the subscription page showed the wrong price and I paid it.",
    ],
    "technical": [
        "The payment page shows {error} so I can't even pay my bill.",
        "Password reset page just spins forever, looks like the site is broken.",
        "Tracking page for my order gives a blank white screen in {browser}.",
        "The invoice download link returns {error}.",
        "Login button does nothing on {device}, no error, nothing happens.",
        "I'd love to give feedback but the feedback form crashes when I submit.",
        "The checkout button is greyed out on mobile, it works on desktop.",
        "Account settings page crashes the app every time I open it.",
        "Billing tab won't load, just an endless spinner since version {version}.",
    ],
    "account": [
        "I can't log in to check why I was charged, it says wrong password.",
        "My order is on the way but I'm locked out so I can't see tracking.",
        "The app keeps saying my email {email} is already registered, but I never signed up.",
        "I changed cards and now my account is suspended, how do I get back in?",
        "Please move my subscription to my new email {email}.",
        "My kid changed my password and now I can't get in.",
        "The 2FA code arrives but the app says it's invalid every time.",
        "Great app, but I need to hand the admin role over to {colleague}.",
        "I got an email about a new login from {country}, was I hacked?",
    ],
    "shipping": [
        "I paid for express shipping and the package still came a week late.",
        "The app says my order {order} is delivered but it's not here.",
        "I was charged but the item shows backordered, when will it ship?",
        "Your website crashed after I ordered, did order {order} actually ship?",
        "Love your products but the courier threw my box over the fence.",
        "I moved house, please send order {order} to my new address in {city}.",
        "Refund aside, I just need to know where the parcel is.",
        "The tracking link in your email gives {error} but I need my delivery date.",
        "I got an account notification that my item shipped, but no tracking number.",
    ],
    "feedback": [
        "Not a bug report, but the app feels slower since version {version}.",
        "Your pricing page is confusing, show the monthly cost more clearly.",
        "Delivery was super fast this time, really impressed with {carrier}.",
        "The password rules are annoying, please allow longer passphrases.",
        "Checkout works fine but it takes too many steps, could be simpler.",
        "I wish invoices had a nicer design, they look very dated.",
        "The crash last week was handled well, thanks for the quick fix.",
        "Packaging uses way too much plastic, please consider paper.",
        "The login screen redesign is gorgeous, nice work.",
    ],
}

# --------------------------------------------------------------------------- #
# Slot fillers
# --------------------------------------------------------------------------- #
NAMES = ["Anna", "Ben", "Carlos", "Dana", "Emeka", "Fatima", "Greg", "Hiro", "Ines", "Jonas",
         "Kira", "Liam", "Maya", "Nikhil", "Olga", "Priya", "Rosa", "Sam", "Tomas", "Yuki"]
SURNAMES = ["smith", "garcia", "kowalski", "nguyen", "okafor", "muller", "tanaka", "rossi",
            "johnson", "silva", "patel", "larsen"]
DOMAINS = ["example.com", "example.org", "example.net", "mail.example.com"]
PLANS = ["Pro plan", "Basic plan", "Team plan", "annual plan", "Premium plan", "Starter plan"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
# {day}: fits after "on", "since", "was"; {when}: a complete time adverbial.
DAYS = ["Monday", "the 3rd", "March 14", "Friday", "Oct 9", "the 21st", "June 2", "the 30th",
        "Tuesday", "May 17"]
WHENS = ["on Monday", "last Tuesday", "on the 3rd", "on March 14", "yesterday", "last week",
         "two weeks ago", "on Oct 9", "this morning", "on Friday"]
FUTURES = ["next Monday", "the 20th", "the end of the month", "August 3", "next week",
           "the 12th"]
PHONES = ["iPhone 13", "Pixel 7", "Galaxy S21", "iPad", "iPhone SE", "Android tablet",
          "OnePlus 9"]
COMPUTERS = ["Windows 11 laptop", "MacBook Air", "Chromebook", "Linux desktop", "iMac",
             "Surface Pro"]
DEVICES = PHONES + COMPUTERS
BROWSERS = ["Chrome", "Firefox", "Safari", "Edge", "Brave"]
ERRORS = ["error 500", "error 403", "ERR_TIMEOUT", "error code 0x8007", "a 502 Bad Gateway",
          "'Something went wrong'", "error E-1042", "a blank white screen", "a 404"]
CARRIERS = ["UPS", "FedEx", "DHL", "USPS", "Royal Mail", "the courier", "DPD"]
COUNTRIES = ["Canada", "Germany", "Brazil", "Australia", "Japan", "Ireland", "Mexico",
             "Norway", "India", "South Africa"]
CITIES = ["Leeds", "Austin", "Lyon", "Toronto", "Melbourne", "Porto", "Denver", "Kraków",
          "Osaka", "Dublin"]
PROMOS = ["SPRING20", "WELCOME10", "SAVE15", "BF2023", "FRIENDS5"]
URL_PATHS = ["settings/billing", "dashboard", "reports/weekly", "invoices/latest",
             "projects/alpha", "account/profile", "orders/track", "help/getting-started",
             "files/shared", "home"]
CURRENCIES = ["$", "€", "£"]


def _amount(rng: random.Random, cur: str) -> str:
    whole = rng.choice([5, 9, 12, 15, 19, 24, 29, 39, 49, 59, 79, 99, 120, 149, 199])
    cents = rng.choice(["", ".00", ".99", ".50", ".49"])
    return f"{cur}{whole}{cents}"


def _order(rng: random.Random) -> str:
    n = rng.randint(10000, 999999)
    return rng.choice([f"#{n}", f"ORD-{n}", f"{n}", f"#A{n}"])


def _email(rng: random.Random) -> str:
    first = rng.choice(NAMES).lower()
    last = rng.choice(SURNAMES)
    local = rng.choice([f"{first}.{last}", f"{first[0]}{last}", f"{first}{rng.randint(1, 99)}",
                        f"{first}_{last}"])
    return f"{local}@{rng.choice(DOMAINS)}"


def _url(rng: random.Random) -> str:
    host = rng.choice(["app.example.com", "www.example.com", "example.com/app"])
    return f"https://{host}/{rng.choice(URL_PATHS)}"


_ALNUM = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def _shot(rng: random.Random) -> str:
    code = "".join(rng.choice(_ALNUM) for _ in range(6))
    return f"https://{rng.choice(['files.example.com/s', 'img.example.net'])}/{code}"


SLOTS = {
    "name": lambda r: r.choice(NAMES),  # the customer; one name per ticket (see fill)
    "agent": lambda r: r.choice(NAMES),
    "colleague": lambda r: r.choice(NAMES),
    "user": lambda r: f"{r.choice(NAMES).lower()}{r.randint(1, 999)}",
    "email": _email,
    "url": _url,
    "order": _order,
    "plan": lambda r: r.choice(PLANS),
    "month": lambda r: r.choice(MONTHS),
    "day": lambda r: r.choice(DAYS),
    "when": lambda r: r.choice(WHENS),
    "future": lambda r: r.choice(FUTURES),
    "device": lambda r: r.choice(DEVICES),
    "phone": lambda r: r.choice(PHONES),
    "computer": lambda r: r.choice(COMPUTERS),
    "shot": _shot,
    "invoice_url": lambda r: f"https://app.example.com/invoices/INV-{r.randint(1000, 99999)}",
    "browser": lambda r: r.choice(BROWSERS),
    "error": lambda r: r.choice(ERRORS),
    "carrier": lambda r: r.choice(CARRIERS),
    "country": lambda r: r.choice(COUNTRIES),
    "city": lambda r: r.choice(CITIES),
    "promo": lambda r: r.choice(PROMOS),
    "card4": lambda r: f"{r.randint(0, 9999):04d}",
    "version": lambda r: f"{r.randint(2, 6)}.{r.randint(0, 12)}.{r.randint(0, 9)}",
    "n": lambda r: str(r.choice([2, 3, 4, 5, 6, 7, 10, 12, 14, 20])),
    "year": lambda r: str(r.randint(2015, 2023)),
    "tracking": lambda r: f"1Z{r.randint(100000000, 999999999)}",
}

CACHED_SLOTS = ["name", "order", "amount"]
_SLOT_RE = re.compile(r"\{(\w+)\}")


def fill(template: str, rng: random.Random) -> str:
    """Fill every {slot}. Within one ticket the customer's {name}, the {order} id and
    the {amount} are consistent; {amount2} is a different amount in the same currency."""
    cache: dict[str, str] = {}
    currency = rng.choice(CURRENCIES)

    def one(m: re.Match) -> str:
        slot = m.group(1)
        if slot == "amount2":
            while True:
                value = _amount(rng, currency)
                if value != cache.get("amount"):
                    return value
        if slot not in CACHED_SLOTS:
            return SLOTS[slot](rng)
        if slot not in cache:
            cache[slot] = _amount(rng, currency) if slot == "amount" else SLOTS[slot](rng)
        return cache[slot]

    return _SLOT_RE.sub(one, template)


# --------------------------------------------------------------------------- #
# Noise: typos and casing
# --------------------------------------------------------------------------- #
_ALPHA_WORD = re.compile(r"^[A-Za-z]{4,}$")


def add_typo(text: str, rng: random.Random) -> str:
    """Introduce one typo in a purely alphabetic word (never in ids/emails/URLs)."""
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if _ALPHA_WORD.match(w)]
    if not candidates:
        return text
    i = rng.choice(candidates)
    w = words[i]
    kind = rng.randrange(3)
    j = rng.randrange(1, len(w) - 1)
    if kind == 0:  # swap two adjacent letters
        w = w[:j] + w[j + 1] + w[j] + w[j + 2:]
    elif kind == 1:  # drop a letter
        w = w[:j] + w[j + 1:]
    else:  # double a letter
        w = w[:j] + w[j] + w[j:]
    words[i] = w
    return " ".join(words)


EMPHASIS = ["not", "never", "still", "twice", "nothing", "wrong", "need", "every", "again",
            "please", "urgent", "really", "anyway", "help"]


def shout_word(text: str, rng: random.Random) -> str:
    """Upper-case one word a frustrated customer would stress (NOT, STILL, TWICE, ...)."""
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if w.strip(".,!?:;").lower() in EMPHASIS]
    if candidates:
        i = rng.choice(candidates)
        words[i] = words[i].upper()
        return " ".join(words)
    if text.endswith((".", "?")):
        return text.rstrip(".") + "!!"
    return text


# --------------------------------------------------------------------------- #
# Composition
# --------------------------------------------------------------------------- #
# Sentence-initial words that stay capitalised after "Hi," (proper nouns, acronyms).
_KEEP_CAPS = ["Paypal", "Google", "Slack", "Notion"]
_PLAIN_WORD = re.compile(r"^[A-Z][a-z]+\b")


def _join(opener: str, body: str) -> str:
    if not opener:
        return body
    first = _PLAIN_WORD.match(body)
    if opener[-1].isalpha():
        # Openers without final punctuation ("Sorry to bother you but") run into the body.
        if not body.startswith(("I ", "I'")):
            body = body[0].lower() + body[1:]
    elif opener.endswith(",") and first and first.group(0) not in _KEEP_CAPS:
        # "Hi, the app crashes" rather than "Hi, The app crashes".
        body = body[0].lower() + body[1:]
    return f"{opener} {body}"


def compose(label: str, rng: random.Random) -> tuple[str, str]:
    """Return (ticket text, dedup key). The key ignores typos/casing/final punctuation
    so two tickets never differ only by noise."""
    r = rng.random()
    if r < P_SHORT:
        text = fill(rng.choice(SHORT[label]), rng)
    else:
        if r < P_SHORT + P_HARD:
            body = rng.choice(HARD[label])
        else:
            body = rng.choice(ISSUES[label])
        parts = [body]
        if rng.random() < P_DETAIL:
            detail = rng.choice(DETAILS[label])
            # Details sometimes come first ("Order #123. My package ..."), but never
            # ones ending in a bare URL, which would run into the next sentence.
            if rng.random() < 0.25 and not detail.endswith("}"):
                parts.insert(0, detail)
            else:
                parts.append(detail)
        if rng.random() < P_CLOSER:
            parts.append(rng.choice(CLOSERS))
        text = " ".join(parts)
        if rng.random() < P_OPENER:
            text = _join(rng.choice(OPENERS), text)
        text = fill(text, rng)
    key = re.sub(r"[^\w@#$€£ ]", "", text.casefold())

    if rng.random() < P_TYPO:
        text = add_typo(text, rng)
    style = rng.random()
    if style < P_LOWER:
        text = text.lower()
    elif style < P_LOWER + P_SHOUT_WORD:
        text = shout_word(text, rng)
    elif style < P_LOWER + P_SHOUT_WORD + P_ALL_CAPS:
        text = text.upper()
    if rng.random() < P_NO_FINAL_PUNCT:
        text = text.rstrip(".!")
    return text, key


def generate(seed: int = SEED) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    rows: list[tuple[str, str]] = []
    seen: dict[str, str] = {}  # dict, not set: keeps the logic order-stable
    for label in LABELS:
        count = 0
        attempts = 0
        while count < TARGET_COUNTS[label]:
            attempts += 1
            if attempts > 100 * TARGET_COUNTS[label]:
                raise RuntimeError(f"could not generate enough unique texts for {label!r}")
            text, key = compose(label, rng)
            n_words = len(text.split())
            if not (MIN_WORDS <= n_words <= MAX_WORDS):
                continue
            if key in seen or text in seen:
                continue
            seen[key] = seen[text] = label
            rows.append((text, label))
            count += 1
    rng.shuffle(rows)
    return rows


def to_csv(rows: list[tuple[str, str]]) -> bytes:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(["text", "label"])
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT,
                        help=f"where to write the CSV (default: {DEFAULT_OUTPUT})")
    parser.add_argument("--seed", type=int, default=SEED, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    data = to_csv(generate(args.seed))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(data)
    n_rows = data.count(b"\n") - 1
    print(f"wrote {len(data)} bytes, {n_rows} rows to {args.output}")


if __name__ == "__main__":
    main()
