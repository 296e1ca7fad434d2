"""A hand-labelled evaluation set for the answer checker.

Each item: category, label (the truth at answer level: supported, unsupported, contradicted,
or none when the answer states nothing checkable), the verdict a careful reader would give
(contradicted -> likely hallucinated; one unsupported claim -> suspect; several and nothing
else -> likely hallucinated; nothing checkable -> unchecked), the answer and its sources.
The items were written one by one on varied topics, not generated from the checker's rules.
"""

OK, SUSPECT, BAD, UNCHECKED = "ok", "suspect", "likely hallucinated", "unchecked"


def item(category, label, verdict, text, *sources):
    return {"category": category, "label": label, "verdict": verdict, "text": text,
            "sources": list(sources)}


ITEMS = [
    # -- the examples of the report that started this work ----------------------------------
    item("entity swap", "contradicted", BAD, "Berlin is the capital of France.",
         "The capital of France is Paris."),
    item("correct rounding", "supported", OK, "About 2.1 million people live in Paris.",
         "Paris has a population of 2,100,000 people."),
    item("correct paraphrase", "supported", OK, "It uses Python and a REST API.",
         "The service is written in Python. Clients reach it through a REST API."),
    item("correct rounding", "supported", OK, "Apple reported revenue of $307 billion.",
         "Apple's revenue for the fiscal year was $307.4 billion."),
    item("unsupported addition", "unsupported", SUSPECT,
         "Paris is the largest city in the region.",
         "In comparison, Lyon is smaller than Marseille."),
    item("number swap", "contradicted", BAD, "The company employs 2023 people.",
         "In 2023, the company employs 1,450 people."),
    item("number swap", "contradicted", BAD,
         "Revenue was 5 million euros and profit was 2 million euros.",
         "Revenue reached 2 million euros and profit reached 5 million euros."),
    item("relation swap", "contradicted", BAD, "Armstrong and Collins walked on the Moon.",
         "Armstrong and Aldrin walked on the Moon while Collins stayed in orbit."),
    item("correct rounding", "supported", OK, "The bridge is 1,450 metres long.",
         "The bridge is 1450 metres long."),
    # -- entity swap -----------------------------------------------------------------------
    item("entity swap", "contradicted", BAD, "Canberra is the largest city in Australia.",
         "Sydney is the largest city in Australia. Canberra is its capital."),
    item("entity swap", "contradicted", BAD, "The theory of general relativity was "
         "published by Niels Bohr in 1915.",
         "Albert Einstein published the theory of general relativity in 1915."),
    item("entity swap", "contradicted", BAD, "Linus Torvalds created the Python language.",
         "Guido van Rossum created the Python language. Linus Torvalds created Linux."),
    item("entity swap", "contradicted", BAD, "The Danube flows into the North Sea.",
         "The Danube flows into the Black Sea after crossing ten countries."),
    item("entity swap", "contradicted", BAD, "Microsoft acquired GitHub and LinkedIn, and "
         "Google acquired Skype.",
         "Microsoft acquired GitHub in 2018 and LinkedIn in 2016. Microsoft also bought "
         "Skype in 2011."),
    item("entity swap", "contradicted", BAD, "Mount Kilimanjaro is in Kenya.",
         "Mount Kilimanjaro is in Tanzania, close to the border with Kenya."),
    item("entity swap", "contradicted", BAD, "PostgreSQL is developed by Oracle.",
         "PostgreSQL is developed by the PostgreSQL Global Development Group. MySQL is "
         "owned by Oracle."),
    item("entity swap", "contradicted", BAD, "The Treaty of Versailles was signed in Vienna.",
         "The Treaty of Versailles was signed in the Palace of Versailles near Paris."),
    item("entity swap", "contradicted", BAD, "Penicillin was discovered by Louis Pasteur.",
         "Penicillin was discovered by Alexander Fleming in 1928."),
    item("entity swap", "contradicted", BAD, "Rust was first released by Google.",
         "Rust was first released by Mozilla Research in 2015."),
    item("entity swap", "contradicted", BAD, "The Amazon rainforest is mostly in Argentina.",
         "Most of the Amazon rainforest lies in Brazil."),
    item("entity swap", "contradicted", BAD, "Marie Curie was born in Vienna.",
         "Marie Curie was born in Warsaw in 1867."),
    item("entity swap", "contradicted", BAD, "Tesla's Gigafactory in Nevada builds the "
         "Cybertruck.", "The Cybertruck is built at Gigafactory Texas near Austin. "
         "Gigafactory Nevada makes batteries."),
    item("entity swap", "contradicted", BAD, "Ottawa is the capital of the United States.",
         "Washington is the capital of the United States; Ottawa is the capital of Canada."),
    # -- number swap -----------------------------------------------------------------------
    item("number swap", "contradicted", BAD, "The Eiffel Tower was finished in 1925.",
         "Gustave Eiffel's company built the tower between 1887 and 1889."),
    item("number swap", "contradicted", BAD, "Water boils at 90 degrees Celsius at sea "
         "level.", "At sea level, water boils at 100 degrees Celsius."),
    item("number swap", "contradicted", BAD, "The marathon distance is 40.2 kilometres.",
         "The marathon distance is 42.195 kilometres."),
    item("number swap", "contradicted", BAD, "Nvidia's revenue grew 45% while its margin "
         "reached 126%.", "Nvidia's revenue grew 126% and its gross margin reached 73%."),
    item("number swap", "contradicted", BAD, "Mount Everest is 7,849 metres high.",
         "Mount Everest is 8,849 metres high."),
    item("number swap", "contradicted", BAD, "The Berlin Wall fell in 1991.",
         "The Berlin Wall fell in 1989, and Germany was reunified in 1990."),
    item("number swap", "contradicted", BAD, "The library has 40 branches and 12 million "
         "books.", "The library runs 12 branches and holds 40 million books."),
    item("number swap", "contradicted", BAD, "Python 3.0 was released in 2012.",
         "Python 3.0 was released in December 2008."),
    item("number swap", "contradicted", BAD, "A human adult has 212 bones.",
         "An adult human skeleton has 206 bones."),
    item("number swap", "contradicted", BAD, "The server handles 300 requests per second.",
         "In the benchmark the server handles 3,000 requests per second."),
    item("number swap", "contradicted", BAD, "The startup raised $12 million in its "
         "Series A.", "The startup raised $21 million in its Series A round."),
    item("number swap", "contradicted", BAD, "Light takes about 8 hours to reach Earth "
         "from the Sun.", "Sunlight takes about 8 minutes and 20 seconds to reach Earth."),
    item("number swap", "contradicted", BAD, "The Great Fire of London burned for 9 days.",
         "The Great Fire of London burned for four days in September 1666."),
    item("number swap", "contradicted", BAD, "The team has 80 engineers and 15 designers.",
         "The team has 15 engineers and 80 designers."),
    # -- relation swap ---------------------------------------------------------------------
    item("relation swap", "contradicted", BAD, "Edison invented the telephone.",
         "Bell invented the telephone, while Edison invented the phonograph."),
    item("relation swap", "contradicted", BAD, "Both Lennon and Harrison wrote Yesterday.",
         "McCartney wrote Yesterday while Harrison wrote Something."),
    item("relation swap", "contradicted", BAD, "Kepler and Galileo built the first "
         "reflecting telescope.", "Newton built the first reflecting telescope, "
         "whereas Galileo built refracting telescopes."),
    item("relation swap", "contradicted", BAD, "Rome defeated Carthage at Cannae.",
         "Hannibal's Carthaginian army defeated Rome at Cannae."),
    item("relation swap", "contradicted", BAD, "Django is written in Ruby.",
         "Django is written in Python, while Rails is written in Ruby."),
    item("relation swap", "contradicted", BAD, "Venus is the hottest planet and Mercury is "
         "the largest planet.", "Venus is the hottest planet, but Jupiter is the largest "
         "planet."),
    item("relation swap", "contradicted", BAD, "The North won the Battle of Bull Run.",
         "The Confederates won the First Battle of Bull Run; the North lost."),
    item("relation swap", "contradicted", BAD, "Messi and Ronaldo both played for Barcelona.",
         "Messi played for Barcelona, while Ronaldo played for Real Madrid."),
    item("relation swap", "contradicted", BAD, "Kafka is a database, and PostgreSQL is a "
         "message broker.", "Kafka is a message broker, while PostgreSQL is a database."),
    item("relation swap", "contradicted", BAD, "The Nile is shorter than the Amazon by "
         "most older measurements.", "By most older measurements the Nile is longer than "
         "the Amazon."),
    item("relation swap", "contradicted", BAD, "Mitochondria store the cell's DNA and the "
         "nucleus produces its energy.", "The nucleus stores the cell's DNA, while "
         "mitochondria produce its energy."),
    item("relation swap", "contradicted", BAD, "Prices fell after the merger.",
         "Prices rose after the merger."),
    item("relation swap", "contradicted", BAD, "The older reactor is the faster one.",
         "The newer reactor is faster; the older reactor is slower."),
    # -- negation --------------------------------------------------------------------------
    item("negation", "contradicted", BAD, "The bridge is not open to cars.",
         "The bridge is open to cars and bicycles."),
    item("negation", "contradicted", BAD, "SQLite needs a separate server process.",
         "SQLite does not need a separate server process."),
    item("negation", "contradicted", BAD, "The vaccine was never approved in Europe.",
         "The vaccine was approved in Europe in 2021."),
    item("negation", "contradicted", BAD, "Penguins can fly short distances.",
         "Penguins cannot fly; they swim instead."),
    item("negation", "contradicted", BAD, "The museum charges no entry fee on Sundays.",
         "The museum charges an entry fee every day, Sundays included."),
    item("negation", "supported", OK, "Git stores the full history on every clone.",
         "Git does not keep history on a central server only; every clone stores the full "
         "history.", "Subversion does not store the full history on every checkout."),
    item("negation", "contradicted", BAD, "The law did not pass the Senate.",
         "The law passed the Senate with 61 votes."),
    item("negation", "contradicted", BAD, "Tornado is not an asynchronous framework.",
         "Tornado is an asynchronous networking framework."),
    item("negation", "contradicted", BAD, "Whales are fish.",
         "Whales are not fish; they are mammals."),
    item("negation", "contradicted", BAD, "The treaty was ratified by Norway.",
         "Norway never ratified the treaty."),
    item("negation", "contradicted", BAD, "Vitamin C is produced by the human body.",
         "The human body does not produce vitamin C."),
    item("negation", "contradicted", BAD, "The API does not require an access token.",
         "Every request to the API requires an access token."),
    item("negation", "supported", OK, "Glass is not a good conductor of electricity.",
         "Glass is not a good conductor of electricity."),
    item("negation", "supported", OK, "The festival was never held outside Edinburgh.",
         "The festival has never been held outside Edinburgh."),
    # -- unsupported addition --------------------------------------------------------------
    item("unsupported addition", "unsupported", SUSPECT,
         "The Eiffel Tower was finished in 1889. It was designed by Maurice Koechlin.",
         "Gustave Eiffel's company built the tower in Paris between 1887 and 1889."),
    item("unsupported addition", "unsupported", SUSPECT,
         "Tea was first drunk in 2737 BC by Shen Nong.",
         "Legend says the emperor Shen Nong discovered tea."),
    item("unsupported addition", "unsupported", SUSPECT,
         "The river is 410 km long. It is home to 60 species of fish.",
         "The river is 410 km long and flows through three regions."),
    item("unsupported addition", "unsupported", SUSPECT,
         "Redis keeps data in memory. It was written by Salvatore Sanfilippo in Sicily.",
         "Redis is an in-memory data store that keeps data in memory."),
    item("unsupported addition", "unsupported", SUSPECT,
         "The company was founded in 2009 and its chief executive is Maria Lopez.",
         "The company was founded in 2009 in Lisbon."),
    item("unsupported addition", "unsupported", SUSPECT,
         "Photosynthesis turns light into chemical energy. It also releases nitrogen.",
         "Photosynthesis turns light into chemical energy and releases oxygen."),
    item("unsupported addition", "unsupported", SUSPECT,
         "The Roman Colosseum held about 50,000 spectators. Its architect was Vitruvius.",
         "The Colosseum could hold about 50,000 spectators."),
    item("unsupported addition", "unsupported", SUSPECT,
         "The library supports Python 3.9 and later. It is used by NASA.",
         "The library supports Python 3.9 and later versions."),
    item("unsupported addition", "unsupported", SUSPECT,
         "Kyoto was the capital of Japan for over a thousand years. Kyoto hosted the "
         "1964 Olympics.", "Kyoto served as Japan's capital for more than a thousand "
         "years, until 1869."),
    item("unsupported addition", "unsupported", BAD,
         "The probe reached Jupiter in 2016. It discovered 14 new moons. It found water "
         "geysers on Callisto.", "The Juno probe was launched in 2011."),
    item("unsupported addition", "unsupported", SUSPECT,
         "The patch fixes the memory leak. It also speeds up startup by 40 percent.",
         "The patch fixes the memory leak in the cache layer."),
    item("unsupported addition", "unsupported", SUSPECT,
         "The novel was published in 1851. It sold 3,000 copies in its first year.",
         "Moby-Dick was published in 1851 to mixed reviews."),
    item("unsupported addition", "unsupported", SUSPECT,
         "Copper conducts electricity well. Copper was first mined in Cyprus in 1200.",
         "Copper conducts electricity well and is used in wiring."),
    item("unsupported addition", "unsupported", BAD,
         "The Great Barrier Reef is visible from the Moon. It is 5,000 years old and "
         "contains 9,000 islands.", "The Great Barrier Reef lies off the coast of "
         "Queensland."),
    item("unsupported addition", "unsupported", SUSPECT,
         "Kubernetes schedules containers onto nodes. Kubernetes was written in Haskell.",
         "Kubernetes schedules containers onto nodes in a cluster."),
    # -- correct paraphrase ----------------------------------------------------------------
    item("correct paraphrase", "supported", OK,
         "The Eiffel Tower was finished in 1889. It is 330 metres tall.",
         "Gustave Eiffel's company built the tower in Paris between 1887 and 1889. "
         "The Eiffel Tower stands 330 metres tall."),
    item("correct paraphrase", "supported", OK, "Paris is the capital of France.",
         "The capital of France is Paris."),
    item("correct paraphrase", "supported", OK,
         "Fleming discovered penicillin in 1928.",
         "Penicillin was discovered by Alexander Fleming in 1928."),
    item("correct paraphrase", "supported", OK,
         "Most of the Amazon rainforest is in Brazil.",
         "Most of the Amazon rainforest lies in Brazil."),
    item("correct paraphrase", "supported", OK,
         "Armstrong and Aldrin walked on the Moon, while Collins stayed in orbit.",
         "Armstrong and Aldrin walked on the Moon while Collins stayed in orbit."),
    item("correct paraphrase", "supported", OK,
         "SQLite runs without a separate server process.",
         "SQLite does not need a separate server process; it runs inside the application."),
    item("correct paraphrase", "supported", OK, "Rust came out of Mozilla Research in 2015.",
         "Rust was first released by Mozilla Research in 2015."),
    item("correct paraphrase", "supported", OK,
         "Kafka is a message broker and PostgreSQL is a database.",
         "Kafka is a message broker, while PostgreSQL is a database."),
    item("correct paraphrase", "supported", OK,
         "The Treaty of Versailles was signed at the Palace of Versailles.",
         "The Treaty of Versailles was signed in the Palace of Versailles near Paris."),
    item("correct paraphrase", "supported", OK,
         "Bell invented the telephone and Edison the phonograph.",
         "Bell invented the telephone, while Edison invented the phonograph."),
    item("correct paraphrase", "supported", OK, "Marie Curie was born in Warsaw.",
         "Marie Curie was born in Warsaw in 1867."),
    item("correct paraphrase", "supported", OK,
         "An adult human has 206 bones in the skeleton.",
         "An adult human skeleton has 206 bones."),
    item("correct paraphrase", "supported", OK,
         "Sydney is Australia's largest city, and Canberra is the capital.",
         "Sydney is the largest city in Australia. Canberra is its capital."),
    item("correct paraphrase", "supported", OK,
         "Whales are mammals, not fish.", "Whales are not fish; they are mammals."),
    item("correct paraphrase", "supported", OK,
         "Every API request needs an access token.",
         "Every request to the API requires an access token."),
    item("correct paraphrase", "supported", OK,
         "Gigafactory Texas near Austin builds the Cybertruck.",
         "The Cybertruck is built at Gigafactory Texas near Austin."),
    # -- correct rounding ------------------------------------------------------------------
    item("correct rounding", "supported", OK, "Mount Everest is about 8,850 metres high.",
         "Mount Everest is 8,849 metres high."),
    item("correct rounding", "supported", OK, "The marathon is roughly 42 km long.",
         "The marathon distance is 42.195 kilometres."),
    item("correct rounding", "supported", OK, "Tokyo's metropolitan area has about 37 "
         "million inhabitants.", "The Tokyo metropolitan area has 37,400,000 inhabitants."),
    item("correct rounding", "supported", OK, "The startup raised $21 million.",
         "The startup raised $21.3 million in its Series A round."),
    item("correct rounding", "supported", OK, "Nvidia's revenue grew 126%.",
         "Nvidia's revenue grew 126 percent and its gross margin reached 73 percent."),
    item("correct rounding", "supported", OK, "The server handles 3000 requests per second.",
         "In the benchmark the server handles 3,000 requests per second."),
    item("correct rounding", "supported", OK, "The probe weighs 3.6 tonnes.",
         "At launch the probe weighed 3,625 kg, or 3.625 tonnes."),
    item("correct rounding", "supported", OK, "The city had 1.2 million residents in 2020.",
         "In 2020 the city had 1,210,000 residents."),
    item("correct rounding", "supported", OK, "Light from the Sun takes about 8 minutes "
         "to reach Earth.", "Sunlight takes about 8.3 minutes to reach Earth."),
    item("correct rounding", "supported", OK, "The deal was worth $4.5 billion.",
         "The acquisition was valued at 4,500 million dollars, or $4.5 billion."),
    item("correct rounding", "supported", OK, "Roughly 71% of Earth's surface is water.",
         "About 71 percent of the Earth's surface is covered by water."),
    item("correct rounding", "supported", OK, "The survey asked 2,000 people.",
         "The survey asked 2000 people across five countries."),
    item("correct rounding", "supported", OK, "The chip has 80 billion transistors.",
         "The H100 chip has 80 billion transistors."),
    # -- Markdown-formatted answers --------------------------------------------------------
    item("Markdown", "supported", OK,
         "## Key facts\n\n- **Capital:** Paris\n- About **2.1 million** people live in "
         "Paris.\n- Paris lies on the **Seine**.",
         "Paris, the capital of France, lies on the Seine. Paris has 2,100,000 residents."),
    item("Markdown", "contradicted", BAD,
         "### Summary\n\n1. The tower was finished in **1889**.\n2. It is **400 metres** "
         "tall.", "The tower was finished in 1889. It is 330 metres tall."),
    item("Markdown", "supported", OK,
         "**Redis** keeps data in memory.\n\n```python\nr = redis.Redis()\nr.set('a', 1)\n"
         "```\n\nIt can persist data to disk.",
         "Redis keeps data in memory and can persist data to disk with snapshots."),
    item("Markdown", "unsupported", SUSPECT,
         "# Report\n\n* The patch fixes the **memory leak**.\n* It was written by "
         "*Priya Raman*.", "The patch fixes the memory leak in the cache layer."),
    item("Markdown", "supported", OK,
         "| Planet | Moons |\n|---|---|\n| Mars | 2 |\n\nMars has **2** moons, Phobos and "
         "Deimos.", "Mars has two moons, Phobos and Deimos."),
    item("Markdown", "contradicted", BAD,
         "**Answer:** Berlin is the capital of France.",
         "The capital of France is Paris."),
    item("Markdown", "supported", OK,
         "Here are the facts:\n\n- Penicillin was discovered by **Alexander Fleming**.\n"
         "- The year was `1928`.", "Penicillin was discovered by Alexander Fleming in 1928."),
    item("Markdown", "contradicted", BAD,
         "> Note\n\n- Water boils at **90 °C** at sea level.",
         "At sea level, water boils at 100 degrees Celsius."),
    item("Markdown", "supported", OK,
         "### Django\n\nDjango is written in [Python](https://python.org).",
         "Django is written in Python, while Rails is written in Ruby."),
    item("Markdown", "unsupported", SUSPECT,
         "1. Kubernetes schedules containers onto nodes.\n2. It was created at **Amazon**.",
         "Kubernetes schedules containers onto nodes. It was designed at Google."),
    item("Markdown", "supported", OK,
         "#### Bones\n\n**206** bones make up the adult human skeleton.",
         "An adult human skeleton has 206 bones."),
    item("Markdown", "contradicted", BAD,
         "- **Founded:** 1998\n- The company was founded in **1998** in Lisbon.",
         "The company was founded in 2009 in Lisbon."),
    item("Markdown", "supported", OK,
         "**Key point:**\n\nThe Danube flows into the *Black Sea*.",
         "The Danube flows into the Black Sea after crossing ten countries."),
    # -- sentence-initial names ------------------------------------------------------------
    item("sentence-initial names", "contradicted", BAD, "Lyon is the capital of France.",
         "Paris is the capital of France; Lyon is its third-largest city."),
    item("sentence-initial names", "supported", OK, "Sydney hosted the 2000 Olympics.",
         "The 2000 Summer Olympics were held in Sydney."),
    item("sentence-initial names", "contradicted", BAD, "Beijing hosted the 2000 Olympics.",
         "The 2000 Summer Olympics were held in Sydney."),
    item("sentence-initial names", "unsupported", SUSPECT, "Napoleon opened the tower "
         "with a speech.", "The tower opened to the public in 1889."),
    item("sentence-initial names", "supported", OK, "Hannibal crossed the Alps with "
         "elephants.", "With his elephants, Hannibal crossed the Alps in 218 BC."),
    item("sentence-initial names", "contradicted", BAD, "Hasdrubal crossed the Alps with "
         "elephants in 218 BC.", "With his elephants, Hannibal crossed the Alps in 218 BC."),
    item("sentence-initial names", "supported", OK, "Ada Lovelace wrote the first "
         "published algorithm.", "The first published algorithm was written by Ada "
         "Lovelace."),
    item("sentence-initial names", "unsupported", SUSPECT, "Nikola Tesla financed the "
         "project.", "The project was financed by a group of private investors."),
    item("sentence-initial names", "supported", OK, "Oracle owns MySQL.",
         "MySQL is owned by Oracle."),
    item("sentence-initial names", "contradicted", BAD, "Oracle owns PostgreSQL.",
         "PostgreSQL is developed by the PostgreSQL Global Development Group. MySQL is "
         "owned by Oracle."),
    item("sentence-initial names", "supported", OK, "Warsaw is where Marie Curie was born.",
         "Marie Curie was born in Warsaw in 1867."),
    item("sentence-initial names", "unsupported", SUSPECT, "Geneva hosted the signing of "
         "the accord.", "The accord was signed after two years of talks."),
    # -- possessives and plurals -----------------------------------------------------------
    item("possessives", "supported", OK, "Einstein's theory of general relativity "
         "appeared in 1915.", "Einstein published the theory of general relativity in 1915."),
    item("possessives", "supported", OK, "Japan's capital was Kyoto until 1869.",
         "Kyoto served as the capital of Japan until 1869."),
    item("possessives", "supported", OK, "The Amazon's basin covers parts of nine "
         "countries.", "The Amazon basin covers parts of nine countries."),
    item("possessives", "contradicted", BAD, "Apple's revenue was $394 billion in 2021.",
         "Apple's revenue was $365.8 billion in 2021 and $394.3 billion in 2022."),
    item("possessives", "supported", OK, "Nvidia's chips power most AI data centres.",
         "Chips from Nvidia power most AI data centres."),
    item("possessives", "supported", OK, "The Beatles' first album was Please Please Me.",
         "Please Please Me was the first album by the Beatles."),
    item("possessives", "supported", OK, "Mars's two moons are Phobos and Deimos.",
         "Mars has two moons, Phobos and Deimos."),
    item("possessives", "contradicted", BAD, "Tolkien's first novel was The Silmarillion.",
         "The Hobbit was Tolkien's first novel; The Silmarillion appeared after his "
         "death."),
    item("possessives", "supported", OK, "The company's engineers number 15.",
         "The team has 15 engineers and 80 designers."),
    item("possessives", "supported", OK, "Germany's reunification came in 1990.",
         "The Berlin Wall fell in 1989, and Germany was reunified in 1990."),
    item("possessives", "unsupported", SUSPECT, "Shakespeare's daughter ran the Globe.",
         "Shakespeare was a shareholder of the Globe theatre."),
    # -- answers with no checkable fact ----------------------------------------------------
    item("no checkable fact", "none", UNCHECKED, "I hope this helps!",
         "The capital of France is Paris."),
    item("no checkable fact", "none", UNCHECKED, "Sure, here is a short overview.",
         "Redis keeps data in memory."),
    item("no checkable fact", "none", UNCHECKED, "That is a great question. Let me know if "
         "you want more detail.", "Copper conducts electricity well."),
    item("no checkable fact", "none", UNCHECKED, "It is a nice thing. Many people like it.",
         "The museum charges an entry fee every day."),
    item("no checkable fact", "none", UNCHECKED, "## Overview\n\n**Details:**",
         "Mars has two moons."),
    item("no checkable fact", "none", UNCHECKED, "Would you like me to continue?",
         "The treaty was signed in 1919."),
    item("no checkable fact", "none", UNCHECKED, "```python\nprint('hello')\n```",
         "Python is a programming language."),
    item("no checkable fact", "none", UNCHECKED, "Thanks for asking. It depends.",
         "The server handles 3,000 requests per second."),
    item("no checkable fact", "none", UNCHECKED, "That is a good idea in general.",
         "Kubernetes schedules containers onto nodes."),
    item("no checkable fact", "none", UNCHECKED, "Here is what I found:",
         "Sunlight takes about 8 minutes to reach Earth."),
    # -- more of each, mixed answers -------------------------------------------------------
    item("correct paraphrase", "supported", OK,
         "The Great Fire of London began in September 1666 and burned for four days.",
         "The Great Fire of London burned for four days in September 1666."),
    item("correct paraphrase", "supported", OK,
         "Nvidia's gross margin reached 73 percent.",
         "Nvidia's revenue grew 126% and its gross margin reached 73%."),
    item("number swap", "contradicted", BAD,
         "The Hobbit appeared in 1954.", "The Hobbit was published in 1937. The Lord of "
         "the Rings followed in 1954."),
    item("entity swap", "contradicted", BAD, "The Hobbit was written by C. S. Lewis.",
         "The Hobbit was written by J. R. R. Tolkien."),
    item("relation swap", "contradicted", BAD,
         "Mars has two moons. Phobos is slowly moving away from Mars.",
         "Mars has two moons, Phobos and Deimos. Phobos is slowly spiralling towards Mars."),
    item("correct rounding", "supported", OK, "The Colosseum held 50 thousand spectators.",
         "The Colosseum could hold about 50,000 spectators."),
    item("negation", "contradicted", BAD, "The Colosseum could not hold more than 5,000 "
         "spectators.", "The Colosseum could hold about 50,000 spectators."),
    item("number swap", "contradicted", BAD, "The survey asked 200 people across five "
         "countries.", "The survey asked 2000 people across five countries."),
    item("relation swap", "contradicted", BAD, "Phobos is spiralling away from Mars while "
         "Deimos moves towards it.", "Phobos is slowly spiralling towards Mars, while "
         "Deimos is slowly moving away."),
    item("correct paraphrase", "supported", OK, "Juno was launched in 2011.",
         "The Juno probe was launched in 2011."),
    item("entity swap", "contradicted", BAD, "The Juno probe was launched by ESA.",
         "NASA launched the Juno probe in 2011."),
    item("correct paraphrase", "supported", OK, "Gustave Eiffel's company built the tower.",
         "Gustave Eiffel's company built the tower in Paris between 1887 and 1889."),
    item("possessives", "supported", OK, "Fleming's discovery of penicillin came in 1928.",
         "Penicillin was discovered by Alexander Fleming in 1928."),
    item("sentence-initial names", "contradicted", BAD, "Marseille is the largest city "
         "in France.", "Paris is the largest city in France. Marseille is the second "
         "largest."),
    # -- found by trying the checker by hand --------------------------------------------
    item("correct paraphrase", "supported", OK,
         "Water boils at 100 degrees Celsius at sea level.",
         "At sea level, water boils at 100 \u00b0C."),
    item("unsupported addition", "unsupported", SUSPECT, "Marie Curie won two Nobel Prizes.",
         "Marie Curie won the Nobel Prize in Physics in 1903."),
    item("correct paraphrase", "supported", OK, "The Nile flows into the Mediterranean Sea.",
         "The Nile empties into the Mediterranean."),
    item("number swap", "contradicted", BAD,
         "The bridge is 1,280 metres long and 27 metres wide.",
         "The bridge is 27 metres long and 1,280 metres wide."),
]

# Translations and creative writing: checked the way their kind allows.
KIND_ITEMS = [
    {"category": "translation", "kind": "translate", "label": "supported", "verdict": OK,
     "text": "The tower was finished in 1889 and is 330 metres tall.",
     "sources": ["Der Turm wurde 1889 fertiggestellt und ist 330 Meter hoch."]},
    {"category": "translation", "kind": "translate", "label": "unsupported",
     "verdict": SUSPECT,
     "text": "The tower was finished in 1899 and is 330 metres tall.",
     "sources": ["Der Turm wurde 1889 fertiggestellt und ist 330 Meter hoch."]},
    {"category": "translation", "kind": "translate", "label": "supported", "verdict": OK,
     "text": "Marie lives in Lyon with her 2 cats.",
     "sources": ["Marie vit à Lyon avec ses 2 chats."]},
    {"category": "translation", "kind": "translate", "label": "unsupported",
     "verdict": SUSPECT, "text": "Marie lives in Paris with her 2 cats.",
     "sources": ["Marie vit à Lyon avec ses 2 chats."]},
    {"category": "haiku", "kind": "creative", "label": "supported", "verdict": OK,
     "text": "Old silent pond\nA frog jumps into the pond\nSplash! Silence again.",
     "sources": []},
    {"category": "haiku", "kind": "creative", "label": "supported", "verdict": OK,
     "text": "Autumn moonlight,\na worm digs silently\ninto the chestnut.",
     "sources": ["Write a haiku about autumn."]},
]


def auc(pairs):
    """Area under the ROC curve of (suspicion, is_bad) pairs: the chance that a bad answer
    is more suspicious than a good one (ties count half)."""
    bad = [s for s, b in pairs if b]
    good = [s for s, b in pairs if not b]
    if not bad or not good:
        return float("nan")
    wins = sum(1.0 if b > g else 0.5 if b == g else 0.0 for b in bad for g in good)
    return wins / (len(bad) * len(good))


async def evaluate(detector, items, **options):
    """[(item, report)] for each item, checked as its kind says."""
    results = []
    for entry in items:
        report = await detector.check(entry["text"], sources=entry["sources"],
                                      kind=entry.get("kind"), samples=0, **options)
        results.append((entry, report))
    return results


def figures(results):
    """{category: {"n", "accuracy", "precision", "recall", "auc"}} and "all"; a positive is
    an answer labelled unsupported or contradicted, flagged when its verdict is not ok."""
    groups = {}
    for entry, report in results:
        groups.setdefault(entry["category"], []).append((entry, report))
    groups["all"] = list(results)
    table = {}
    for name, rows in groups.items():
        right = sum(r["verdict"] == e["verdict"] for e, r in rows)
        labelled = [(e, r) for e, r in rows if e["label"] != "none"]
        bad = [(e, r) for e, r in labelled if e["label"] != "supported"]
        flagged = [(e, r) for e, r in labelled if r["verdict"] != "ok"]
        hits = sum(e["label"] != "supported" for e, _ in flagged)
        table[name] = {
            "n": len(rows), "accuracy": right / len(rows),
            "precision": hits / len(flagged) if flagged else float("nan"),
            "recall": hits / len(bad) if bad else float("nan"),
            "auc": auc([(1 - r["score"], e["label"] != "supported") for e, r in labelled])}
    return table
