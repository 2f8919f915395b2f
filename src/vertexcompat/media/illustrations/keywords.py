"""Everyday words → the illustration that shows them best, where the Unicode name does not
say it (a car is an AUTOMOBILE, coffee a HOT BEVERAGE) or says several things (which of
five trees is "a tree"). The matcher (matcher.py) reads this table first.

Our own table, written for this project from the Unicode names; keys are singular and
lowercase, values one emoji each. Words whose Unicode name is already the word itself
("cat", "banana", "rocket") need no entry.
"""

from __future__ import annotations

KEYWORDS: dict[str, str] = {
    # nature and weather
    "tree": "🌳", "oak": "🌳", "pine": "🌲", "pine tree": "🌲", "fir": "🌲", "palm": "🌴",
    "forest": "🌲", "plant": "🪴", "bush": "🌳", "grass": "🌿", "leaf": "🍃", "herb": "🌿",
    "flower": "🌼", "daisy": "🌼", "rose": "🌹", "tulip": "🌷", "blossom": "🌸",
    "sun": "☀", "sunshine": "☀", "moon": "🌙", "crescent": "🌙", "star": "⭐",
    "cloud": "☁", "rain": "🌧", "raindrop": "💧", "drop": "💧", "water drop": "💧",
    "snow": "❄", "snowflake": "❄", "storm": "⛈", "lightning": "⚡", "thunder": "⚡",
    "rainbow": "🌈", "fire": "🔥", "flame": "🔥", "sea": "🌊", "ocean": "🌊", "wave": "🌊",
    "water": "🌊", "lake": "🌊", "river": "🌊", "mountain": "⛰", "hill": "⛰",
    "volcano": "🌋", "rock": "🪨", "stone": "🪨", "wood": "🪵", "log": "🪵", "island": "🏝",
    "beach": "🏖", "desert": "🏜", "earth": "🌍", "world": "🌍", "globe": "🌍", "planet": "🪐",
    "comet": "☄", "sky": "☁", "mushroom": "🍄", "cactus": "🌵", "leaves": "🍂",
    # animals
    "dog": "🐕", "puppy": "🐕", "cat": "🐈", "kitten": "🐈", "horse": "🐎", "pony": "🐎",
    "cow": "🐄", "pig": "🐖", "sheep": "🐑", "lamb": "🐑", "goat": "🐐", "chicken": "🐔",
    "hen": "🐔", "rooster": "🐓", "chick": "🐤", "duck": "🦆", "bird": "🐦", "owl": "🦉",
    "eagle": "🦅", "parrot": "🦜", "penguin": "🐧", "fish": "🐟", "shark": "🦈",
    "whale": "🐋", "dolphin": "🐬", "octopus": "🐙", "crab": "🦀", "turtle": "🐢",
    "frog": "🐸", "snake": "🐍", "lizard": "🦎", "mouse": "🐁", "rat": "🐀",
    "rabbit": "🐇", "bunny": "🐇", "bear": "🐻", "teddy": "🧸", "teddy bear": "🧸",
    "lion": "🦁", "tiger": "🐅", "monkey": "🐒", "elephant": "🐘", "giraffe": "🦒",
    "zebra": "🦓", "fox": "🦊", "wolf": "🐺", "deer": "🦌", "camel": "🐫", "bee": "🐝",
    "butterfly": "🦋", "ladybug": "🐞", "ant": "🐜", "spider": "🕷", "snail": "🐌",
    "dinosaur": "🦕", "dragon": "🐉", "unicorn": "🦄", "squirrel": "🐿", "hedgehog": "🦔",
    "panda": "🐼", "koala": "🐨", "kangaroo": "🦘", "bat": "🦇", "swan": "🦢",
    # food and drink
    "apple": "🍎", "pear": "🍐", "orange": "🍊", "lemon": "🍋", "banana": "🍌",
    "grape": "🍇", "strawberry": "🍓", "cherry": "🍒", "watermelon": "🍉", "peach": "🍑",
    "pineapple": "🍍", "tomato": "🍅", "carrot": "🥕", "corn": "🌽", "potato": "🥔",
    "bread": "🍞", "cheese": "🧀", "egg": "🥚", "pizza": "🍕", "burger": "🍔",
    "hamburger": "🍔", "sandwich": "🥪", "cake": "🎂", "birthday cake": "🎂",
    "cupcake": "🧁", "cookie": "🍪", "donut": "🍩", "doughnut": "🍩", "ice cream": "🍨",
    "candy": "🍬", "chocolate": "🍫", "soup": "🍲", "salad": "🥗", "rice": "🍚",
    "noodle": "🍜", "spaghetti": "🍝", "pasta": "🍝", "fries": "🍟", "hot dog": "🌭",
    "coffee": "☕", "tea": "🍵", "cup": "☕", "mug": "☕", "cup of coffee": "☕",
    "cup of tea": "🍵", "milk": "🥛", "glass": "🥛", "glass of water": "🥛",
    "glass of milk": "🥛", "juice": "🧃", "wine": "🍷", "beer": "🍺", "bottle": "🍾",
    "plate": "🍽", "bowl": "🥣", "spoon": "🥄", "fork": "🍴", "knife": "🔪",
    # home and things
    "house": "🏠", "home": "🏠", "cottage": "🏡", "building": "🏢", "school": "🏫",
    "castle": "🏰", "church": "⛪", "tent": "⛺", "barn": "🏡", "factory": "🏭",
    "hospital": "🏥", "shop": "🏪", "store": "🏪", "bed": "🛏", "chair": "🪑",
    "sofa": "🛋", "couch": "🛋", "door": "🚪", "window": "🪟", "lamp": "💡",
    "light bulb": "💡", "bulb": "💡", "candle": "🕯", "clock": "🕰", "alarm clock": "⏰",
    "watch": "⌚", "key": "🔑", "lock": "🔒", "laptop": "💻", "computer": "💻",
    "keyboard": "⌨", "phone": "📱", "smartphone": "📱", "mobile phone": "📱",
    "telephone": "☎", "television": "📺", "tv": "📺", "camera": "📷", "radio": "📻",
    "headphone": "🎧", "book": "📕", "notebook": "📓", "pencil": "✏", "pen": "🖊",
    "paper": "📄", "letter": "✉", "envelope": "✉", "scissors": "✂", "gift": "🎁",
    "present": "🎁", "balloon": "🎈", "umbrella": "☂", "bag": "👜", "backpack": "🎒",
    "hat": "🎩", "shirt": "👕", "dress": "👗", "shoe": "👟", "glasses": "👓",
    "eyeglasses": "👓", "sunglasses": "🕶", "ring": "💍", "crown": "👑", "heart": "❤",
    "ball": "⚽", "football": "⚽", "soccer ball": "⚽", "basketball": "🏀",
    "baseball": "⚾", "tennis ball": "🎾", "guitar": "🎸", "piano": "🎹", "drum": "🥁",
    "violin": "🎻", "trumpet": "🎺", "kite": "🪁", "toy": "🧸", "bell": "🔔",
    "hammer": "🔨", "wrench": "🔧", "broom": "🧹", "bucket": "🪣", "box": "📦",
    "trophy": "🏆", "medal": "🏅", "flag": "🏁", "map": "🗺", "magnet": "🧲",
    "christmas tree": "🎄", "snowman": "⛄", "fence": "🚧",
    # transport and places
    "car": "🚗", "automobile": "🚗", "taxi": "🚕", "bus": "🚌", "truck": "🚚",
    "lorry": "🚚", "van": "🚐", "bicycle": "🚲", "bike": "🚲", "motorcycle": "🏍",
    "train": "🚆", "tram": "🚊", "airplane": "✈", "plane": "✈", "aeroplane": "✈",
    "helicopter": "🚁", "rocket": "🚀", "boat": "⛵", "sailboat": "⛵", "ship": "🚢",
    "canoe": "🛶", "road": "🛣", "street": "🛣", "highway": "🛣", "bridge": "🌉",
    "bus stop": "🚏", "traffic light": "🚦", "fountain": "⛲", "park": "🏞",
    "city": "🏙", "stadium": "🏟", "tractor": "🚜", "ambulance": "🚑",
    "fire engine": "🚒", "police car": "🚓", "scooter": "🛴", "skateboard": "🛹",
    # people
    "person": "🧑", "man": "👨", "woman": "👩", "boy": "👦", "girl": "👧",
    "child": "🧒", "kid": "🧒", "baby": "👶", "people": "🧑", "friend": "🧑",
    "family": "👪", "old man": "👴", "old woman": "👵", "ghost": "👻", "robot": "🤖",
    "alien": "👽", "face": "🙂", "smiley": "🙂",
}
