import asyncio

from .webapp import main

asyncio.run(main())
