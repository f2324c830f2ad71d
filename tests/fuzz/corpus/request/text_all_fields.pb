hello <|im_start|> world"333?(fff?%млL=-мл▄?0**

END 2 8@