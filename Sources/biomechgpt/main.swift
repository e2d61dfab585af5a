print("biomechgpt")
