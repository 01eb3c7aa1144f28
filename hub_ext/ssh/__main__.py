import asyncio

from .service import main

asyncio.run(main())
