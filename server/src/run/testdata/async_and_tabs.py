import asyncio


async def worker(n):
	total = 0
	for i in range(n):
		await asyncio.sleep(0)
		total += i
	return total


async def main():
	async with Lock() as lock:
		pass
	r = await worker(3)
	print("async", r)


class Lock:
	async def __aenter__(self):
		return self

	async def __aexit__(self, *exc):
		return False
asyncio.run(main())
