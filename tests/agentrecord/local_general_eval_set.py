"""General-purpose requests (math, search, bookings, units, weather, mail...) for any application's tools.

The library serves every application's tools, so the embedded model is scored beside the trading set
on schemas it was not tuned on: numbers with ranges, enums, patterns, optional arguments, arrays and
nested objects, several tools to choose from, and tools that do not fit the question at all (then the
right answer is words, no call). Each case names an app: the set of tools its agent offers.
`benchmarks/local_model_accuracy.py` reports this set separately.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field


def add_numbers(a: float, b: float) -> dict[str, float]:
    """Add two numbers and return their sum."""
    return {"sum": a + b}


def multiply_numbers(a: float, b: float) -> dict[str, float]:
    """Multiply two numbers and return their product."""
    return {"product": a * b}


def convert_units(
    value: float,
    from_unit: Literal["km", "mi", "kg", "lb", "c", "f", "m", "ft"],
    to_unit: Literal["km", "mi", "kg", "lb", "c", "f", "m", "ft"],
) -> dict[str, Any]:
    """Convert a measurement between units: km/mi, kg/lb, c/f (Celsius, Fahrenheit), m/ft."""
    factors = {("km", "mi"): 0.621371, ("mi", "km"): 1.609344, ("kg", "lb"): 2.204623, ("lb", "kg"): 0.453592}
    factors |= {("m", "ft"): 3.28084, ("ft", "m"): 0.3048}
    if (from_unit, to_unit) == ("c", "f"):
        result = value * 9 / 5 + 32
    elif (from_unit, to_unit) == ("f", "c"):
        result = (value - 32) * 5 / 9
    else:
        result = value * factors.get((from_unit, to_unit), 1.0)
    return {"value": round(result, 2), "unit": to_unit}


def get_weather(
    city: Annotated[str, Field(max_length=40)], unit: Literal["celsius", "fahrenheit"] = "celsius"
) -> dict[str, Any]:
    """Get the current weather (temperature, conditions) in a city."""
    return {"city": city, "temperature": 21 if unit == "celsius" else 70, "unit": unit, "conditions": "sunny"}


def get_forecast(
    city: Annotated[str, Field(max_length=40)], days: Annotated[int, Field(ge=1, le=7)] = 3
) -> dict[str, Any]:
    """Get the weather forecast for a city for the next few days (1 to 7)."""
    return {"city": city, "days": days, "highs": [22, 24, 19][:days]}


def web_search(
    query: Annotated[str, Field(max_length=80)], max_results: Annotated[int, Field(ge=1, le=10)] = 5
) -> list[dict[str, str]]:
    """Search the web and return the top results (title and link)."""
    return [{"title": f"Result about {query}", "link": "https://example.com/1"}]


def book_table(
    restaurant: Annotated[str, Field(max_length=40)],
    date: Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$")],
    party_size: Annotated[int, Field(ge=1, le=20)],
) -> dict[str, Any]:
    """Book a table at a restaurant for a party on a date (YYYY-MM-DD)."""
    return {"status": "booked", "restaurant": restaurant, "date": date, "party_size": party_size, "table": 12}


def book_flight(
    origin: Annotated[str, Field(pattern=r"^[A-Z]{3}$")],
    destination: Annotated[str, Field(pattern=r"^[A-Z]{3}$")],
    passengers: Annotated[int, Field(ge=1, le=9)] = 1,
    cabin: Literal["economy", "business", "first"] = "economy",
) -> dict[str, Any]:
    """Book a flight between two airports (three-letter IATA codes) for some passengers."""
    return {"status": "booked", "origin": origin, "destination": destination, "passengers": passengers, "cabin": cabin}


def send_email(
    to: Annotated[str, Field(pattern=r"^[a-z0-9._]+@[a-z0-9.]+\.[a-z]{2,4}$")],
    subject: Annotated[str, Field(max_length=60)],
) -> dict[str, str]:
    """Send an email to an address with a subject line."""
    return {"status": "sent", "to": to}


def set_timer(minutes: Annotated[int, Field(ge=1, le=180)]) -> dict[str, Any]:
    """Set a countdown timer for a number of minutes."""
    return {"status": "running", "minutes": minutes}


def translate(
    text: Annotated[str, Field(max_length=100)], target_language: Literal["french", "spanish", "german", "italian"]
) -> dict[str, str]:
    """Translate a short text into another language."""
    return {"translation": f"[{target_language}] {text}"}


def create_event(
    title: Annotated[str, Field(max_length=50)],
    attendees: Annotated[list[str], Field(max_length=5)],
    duration_minutes: Annotated[int, Field(ge=5, le=480)] = 30,
) -> dict[str, Any]:
    """Create a calendar event with a title and a list of attendees' names."""
    return {"status": "created", "title": title, "attendees": attendees, "duration_minutes": duration_minutes}


class LineItem(BaseModel):
    product: Annotated[str, Field(max_length=30)]
    quantity: Annotated[int, Field(ge=1, le=50)]


def order_groceries(items: Annotated[list[LineItem], Field(min_length=1, max_length=4)]) -> dict[str, Any]:
    """Order groceries for delivery: a list of products with quantities."""
    return {"status": "ordered", "items": [i.model_dump() if isinstance(i, LineItem) else i for i in items]}


def stock_price(ticker: Annotated[str, Field(pattern=r"^[A-Z]{1,5}$")]) -> dict[str, Any]:
    """Look up the latest stock price for a ticker symbol."""
    return {"ticker": ticker, "price": 101.25}


def company_stats(ticker: Annotated[str, Field(pattern=r"^[A-Z]{1,5}$")]) -> dict[str, Any]:
    """Look up a listed company's key statistics: market cap, volume, P/E, EPS, dividend yield, beta."""
    return {
        "ticker": ticker,
        "market_cap": 2870.5,
        "volume": 51234000,
        "pe_ratio": 29.4,
        "eps": 6.13,
        "dividend_yield": 0.52,
        "beta": 1.21,
    }


def weather_details(city: Annotated[str, Field(max_length=40)]) -> dict[str, Any]:
    """Get detailed current weather in a city: temperature, humidity, wind speed, UV index, pressure."""
    return {"city": city, "temperature": 18, "humidity": 64, "wind_speed": 27, "uv_index": 5, "pressure": 1013}


APPS: dict[str, list[Any]] = {
    "math": [add_numbers, multiply_numbers, convert_units],
    "weather": [get_weather, get_forecast, web_search],
    "travel": [book_flight, book_table, get_weather],
    "office": [send_email, create_event, set_timer, translate],
    "shop": [order_groceries, web_search],
    "finance": [stock_price, convert_units],
    "stats": [company_stats, weather_details, web_search],
}
INSTRUCTIONS = "You are a helpful assistant. Use a tool when the request needs one."


@dataclass(frozen=True)
class GeneralCase:
    """A request to the agent of `app`; `tool=None` when no offered tool fits (answer in words)."""

    app: str
    prompt: str
    tool: str | None
    args: dict[str, Any] = field(default_factory=dict)
    category: str = ""
    field: str | None = None
    """The key of the tool result's field the request names: the answer's number must be its value."""
    heldout: bool = False
    """In the held-out split of the field cases (measured, never tuned on)."""

    def args_match(self, got: dict[str, Any]) -> bool:
        """Every expected argument present and equal (strings ignore case and surrounding space; numbers by value)."""
        return all(_same(want, got.get(key)) for key, want in self.args.items())


def _same(want: Any, have: Any) -> bool:
    if isinstance(want, str):
        return isinstance(have, str) and have.strip().lower() == want.lower()
    if isinstance(want, bool) or want is None:
        return bool(have == want)
    if isinstance(want, int | float):
        try:
            return have is not None and not isinstance(have, bool) and float(have) == float(want)
        except (TypeError, ValueError):
            return False
    if isinstance(want, list):
        return (
            isinstance(have, list)
            and len(have) == len(want)
            and all(_same(w, h) for w, h in zip(want, have, strict=True))
        )
    if isinstance(want, dict):
        return isinstance(have, dict) and all(_same(v, have.get(k)) for k, v in want.items())
    return bool(want == have)


def _c(app: str, prompt: str, tool: str | None, category: str, **args: Any) -> GeneralCase:
    return GeneralCase(app, prompt, tool, args, category)


CASES: list[GeneralCase] = [
    _c("math", "What is 17 plus 25?", "add_numbers", "math", a=17, b=25),
    _c("math", "Add 3.5 and 4.25 for me.", "add_numbers", "math", a=3.5, b=4.25),
    _c("math", "Multiply 12 by 8.", "multiply_numbers", "math", a=12, b=8),
    _c("math", "What is 6 times 7?", "multiply_numbers", "math", a=6, b=7),
    _c("math", "How many kilometers is 10 miles?", "convert_units", "units", value=10, from_unit="mi", to_unit="km"),
    _c("math", "Convert 5 kg to lb.", "convert_units", "units", value=5, from_unit="kg", to_unit="lb"),
    _c("math", "What is 30 c in f?", "convert_units", "units", value=30, from_unit="c", to_unit="f"),
    _c("finance", "Convert 100 ft to m.", "convert_units", "units", value=100, from_unit="ft", to_unit="m"),
    _c("weather", "What's the weather in Paris?", "get_weather", "weather", city="Paris"),
    _c("weather", "Is it sunny in Tokyo right now?", "get_weather", "weather", city="Tokyo"),
    _c(
        "weather",
        "What's the temperature in Chicago in fahrenheit?",
        "get_weather",
        "weather",
        city="Chicago",
        unit="fahrenheit",
    ),
    _c("weather", "Give me the 5 day forecast for Berlin.", "get_forecast", "weather", city="Berlin", days=5),
    _c(
        "weather",
        "What will the weather be in Madrid over the next 3 days?",
        "get_forecast",
        "weather",
        city="Madrid",
        days=3,
    ),
    _c(
        "weather",
        "Search the web for the best hiking trails in Colorado.",
        "web_search",
        "search",
        query="best hiking trails in Colorado",
    ),
    _c("shop", "Search for reviews of the Pixel 9.", "web_search", "search", query="reviews of the Pixel 9"),
    _c("travel", "Book a flight from JFK to LAX.", "book_flight", "booking", origin="JFK", destination="LAX"),
    _c(
        "travel",
        "Book a flight from SFO to ORD for 2 passengers.",
        "book_flight",
        "booking",
        origin="SFO",
        destination="ORD",
        passengers=2,
    ),
    _c(
        "travel",
        "I need a business class flight from BOS to MIA.",
        "book_flight",
        "booking",
        origin="BOS",
        destination="MIA",
        cabin="business",
    ),
    _c(
        "travel",
        "Book a table at Luigi's for 4 people on 2025-06-14.",
        "book_table",
        "booking",
        restaurant="Luigi's",
        date="2025-06-14",
        party_size=4,
    ),
    _c(
        "travel",
        "Reserve a table for 2 at Nobu on 2025-07-01.",
        "book_table",
        "booking",
        restaurant="Nobu",
        date="2025-07-01",
        party_size=2,
    ),
    _c("travel", "What's the weather in Rome?", "get_weather", "weather", city="Rome"),
    _c(
        "office",
        "Send an email to bob@example.com with the subject Lunch tomorrow.",
        "send_email",
        "mail",
        to="bob@example.com",
        subject="Lunch tomorrow",
    ),
    _c("office", "Email anna.lee@corp.io about the quarterly report.", "send_email", "mail", to="anna.lee@corp.io"),
    _c("office", "Set a timer for 25 minutes.", "set_timer", "timer", minutes=25),
    _c("office", "Remind me in 10 minutes with a timer.", "set_timer", "timer", minutes=10),
    _c("office", "Translate good morning into french.", "translate", "translate", target_language="french"),
    _c("office", "How do you say thank you in spanish?", "translate", "translate", target_language="spanish"),
    _c(
        "office",
        "Create an event called Standup with Alice and Bob.",
        "create_event",
        "calendar",
        title="Standup",
        attendees=["Alice", "Bob"],
    ),
    _c(
        "office",
        "Schedule a 60 minute meeting named Review with Carol.",
        "create_event",
        "calendar",
        title="Review",
        attendees=["Carol"],
        duration_minutes=60,
    ),
    _c(
        "shop",
        "Order 2 milk and 6 eggs.",
        "order_groceries",
        "nested",
        items=[{"product": "milk", "quantity": 2}, {"product": "eggs", "quantity": 6}],
    ),
    _c(
        "shop",
        "Please order 3 apples for delivery.",
        "order_groceries",
        "nested",
        items=[{"product": "apples", "quantity": 3}],
    ),
    _c("finance", "What is the stock price of IBM?", "stock_price", "finance", ticker="IBM"),
    _c("finance", "Look up ORCL for me.", "stock_price", "finance", ticker="ORCL"),
    # no offered tool fits: answer in words, call nothing
    _c("math", "What's the weather in London?", None, "irrelevant"),
    _c("math", "Book me a flight to Paris.", None, "irrelevant"),
    _c("weather", "Set an alarm for 7 am.", None, "irrelevant"),
    _c("weather", "Add 2 and 2.", None, "irrelevant"),
    _c("travel", "Translate hello into german.", None, "irrelevant"),
    _c("travel", "Send an email to my boss.", None, "irrelevant"),
    _c("office", "What is the capital of France?", None, "irrelevant"),
    _c("office", "Tell me a joke.", None, "irrelevant"),
    _c("shop", "What time is it in Tokyo?", None, "irrelevant"),
    _c("shop", "Hello, who are you?", None, "irrelevant"),
    _c("finance", "Write a poem about the sea.", None, "irrelevant"),
    _c("finance", "Thanks for your help!", None, "irrelevant"),
]


def _f(prompt: str, tool: str, name: str, heldout: bool = False, **args: Any) -> GeneralCase:
    return GeneralCase("stats", prompt, tool, args, "field", name, heldout)


FIELDS: list[GeneralCase] = [
    _f("What is the market cap of AAPL?", "company_stats", "market_cap", ticker="AAPL"),
    _f("What's the beta of TSLA?", "company_stats", "beta", ticker="TSLA"),
    _f("What is the EPS of IBM?", "company_stats", "eps", ticker="IBM"),
    _f("How humid is it in Paris? Give me the humidity.", "weather_details", "humidity", city="Paris"),
    _f("What's the wind speed in Oslo?", "weather_details", "wind_speed", city="Oslo"),
]
"""Requests naming one field of a result with several numbers: the split the binding was developed on."""

FIELDS_HELDOUT: list[GeneralCase] = [
    _f("What's the UV index in Sydney?", "weather_details", "uv_index", True, city="Sydney"),
    _f("Tell me the air pressure in Denver.", "weather_details", "pressure", True, city="Denver"),
    _f("What is the temperature in Lisbon?", "weather_details", "temperature", True, city="Lisbon"),
    _f("What is the humidity in Cairo?", "weather_details", "humidity", True, city="Cairo"),
    _f("What is NVDA's price/earnings ratio?", "company_stats", "pe_ratio", True, ticker="NVDA"),
    _f("What is the dividend yield of KO?", "company_stats", "dividend_yield", True, ticker="KO"),
    _f("What's the trading volume of AMD?", "company_stats", "volume", True, ticker="AMD"),
    _f("What is the market capitalization of MSFT?", "company_stats", "market_cap", True, ticker="MSFT"),
]
"""Requests naming one field, never used to tune the binding: the rate reported is this split's."""
